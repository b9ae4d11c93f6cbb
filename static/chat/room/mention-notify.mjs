// Browser notifications of mentions (docs/mentions.md): while the tab is
// hidden, a message that mentions the reader, live, raises a notification
// (the Notification API). The page asks for permission only once the
// reader clicks the "Enable notifications" button (#notify), and keeps
// the choice in localStorage; clicking a notification brings the tab
// forward at the message: scrolled to when this page shows it, else the
// room opened at it (its permalink).

import {mentionsReader} from "./mentions.mjs";
import {permalink} from "./render.mjs";

// Where the reader's choice is kept: "on" or "off" (none: never chosen).
export const STORAGE_KEY = "chat-mention-notifications";

// The most characters of a message a notification shows.
const BODY_MAX = 160;

function stored() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;  // storage refused (a private window, a policy)
  }
}

function store(choice) {
  try {
    window.localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // Kept for this page only.
  }
}

export class MentionNotify {
  // `button`: the "Enable notifications" button (#notify; null on a page
  // without a name, which notifies of nothing). `reader`:
  // {identityKind, handle, roomPath}. `label`: the room's. `findMessage(seq)`:
  // the message's <li> if the page shows it, else null. `doc`: the
  // document (its visibilityState).
  constructor({button, reader, label, findMessage, doc = document}) {
    this.button = button;
    this.reader = reader;
    this.label = label;
    this.findMessage = findMessage;
    this.doc = doc;
    // Ids of the messages notified already: an edit of one does not
    // notify again.
    this.notified = new Set();
    this.choice = stored();
    // A page without a name (no button) hears of no mention; a browser
    // without notifications keeps the button hidden.
    if (!button || !("Notification" in window) || !reader.identityKind) {
      return;
    }
    button.addEventListener("click", () => this.toggle());
    this.showChoice();
  }

  get enabled() {
    return this.choice === "on" && "Notification" in window &&
      window.Notification.permission === "granted";
  }

  showChoice() {
    const permission = window.Notification.permission;
    this.button.hidden = false;
    this.button.disabled = permission === "denied";
    this.button.setAttribute("aria-pressed", String(this.enabled));
    this.button.textContent = permission === "denied" ? "Notifications blocked"
      : this.enabled ? "Notifications on" : "Enable notifications";
    this.button.title = permission === "denied"
      ? "This browser blocks this site's notifications; allow them in its settings."
      : this.enabled ? "Mentions of you notify you while this tab is hidden. Click to stop."
        : "Be notified of mentions of you while this tab is hidden.";
  }

  async toggle() {
    if (this.enabled) {
      this.choice = "off";
    } else {
      const permission = window.Notification.permission === "granted"
        ? "granted" : await window.Notification.requestPermission();
      this.choice = permission === "granted" ? "on" : "off";
    }
    store(this.choice);
    this.showChoice();
  }

  // A live message frame: notify when it mentions the reader and the tab
  // is hidden.
  onMessage(message) {
    if (!this.button || !mentionsReader(message, this.reader) || this.notified.has(message.id)) {
      return;
    }
    this.notified.add(message.id);
    if (!this.enabled || this.doc.visibilityState !== "hidden") {
      return;
    }
    const text = typeof message.message === "string" ? message.message : "";
    const notification = new window.Notification(
      message.handle + " mentioned you in " + this.label,
      {
        body: text.length > BODY_MAX ? text.slice(0, BODY_MAX - 1) + "…" : text,
        tag: "chat-mention:" + this.label + ":" + message.id
      }
    );
    notification.addEventListener("click", () => {
      window.focus();
      this.open(message.seq);
      notification.close();
    });
  }

  // A live change frame: an edit that makes the message mention the
  // reader notifies as a new message would.
  onChange(frame) {
    if (frame.change === "edit" && frame.object) {
      this.onMessage(frame.object);
    }
  }

  // Show the message `seq`: scrolled to and marked when the page shows
  // it, else the room opened at it.
  open(seq) {
    const li = this.findMessage(seq);
    if (!li) {
      window.location.assign(permalink(this.reader.roomPath, seq));
      return;
    }
    this.doc.querySelectorAll("li.message.highlighted").forEach((other) => {
      other.classList.remove("highlighted");
    });
    li.classList.add("highlighted");
    li.scrollIntoView({block: "center"});
  }
}
