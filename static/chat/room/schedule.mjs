// Messages sent later (docs/protocol.md, "Messages sent later"): the
// "Send later" menu beside Send, and the reader's own pending ones above
// the composer, each with a Cancel button. Times are chosen in the
// reader's local time and sent as absolute UTC instants; the server keeps
// the list, and every `scheduled` frame carries it whole, so this module
// only draws what the last one said.
//
//   const schedule = new Schedule({...});
//   schedule.start();
//   schedule.opened();          // on every socket open: ask for the list
//   schedule.receive(frame);    // a "scheduled" frame came

import {codePoints} from "./message-length.mjs";
import {randomNonce} from "./outbox.mjs";

// How long after a pending message's time the list is asked for again,
// to drop it once posted (ms): the delay server keeps time to about 1 s.
const REFRESH_AFTER_MS = 3000;

// The menu's choices: each a function of now (a Date) to the instant
// (a Date) it means, in the reader's local time.
export const CHOICES = {
  "20m": (now) => new Date(now.getTime() + 20 * 60 * 1000),
  "1h": (now) => new Date(now.getTime() + 60 * 60 * 1000),
  // Tomorrow at 9:00 on the reader's clock, whatever the offset: a day
  // with a daylight-saving change is 23 or 25 hours long.
  "tomorrow9": (now) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0, 0)
};

// The instant a datetime-local input's value ("2026-12-06T09:30", or
// with seconds, "2026-12-06T09:30:15") names in local time, or null for
// an empty or unreadable one.
export function fromLocalInput(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!match) {
    return null;
  }
  const [y, mo, d, h, mi, s] = match.slice(1).map((part) => Number(part || 0));
  return new Date(y, mo - 1, d, h, mi, s, 0);
}

// A Date as a datetime-local input's value, in local time.
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
    "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
}

// How a pending message's time reads: "14:20" today, "Tomorrow 09:00",
// else "Mon 7 Dec, 09:00".
export function whenLabel(date, now = new Date()) {
  const time = date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(date) - day(now)) / 86400000);
  if (days === 0) {
    return time;
  }
  if (days === 1) {
    return "Tomorrow " + time;
  }
  return date.toLocaleDateString([], {weekday: "short", day: "numeric", month: "short"}) +
    ", " + time;
}

export class Schedule {
  // `button`: the "Send later" button; `menu`: its menu; `customInput`:
  // the menu's datetime-local input; `list`: the <ul> of pending ones;
  // `messageInput`: the composer's textarea; `connection`: the room's
  // Connection; `status`: the page's Status; `maxLength`: the longest
  // message, in characters as the server counts them.
  constructor({button, menu, customInput, list, messageInput, connection, status, maxLength}) {
    this.button = button;
    this.menu = menu;
    this.customInput = customInput;
    this.list = list;
    this.messageInput = messageInput;
    this.connection = connection;
    this.status = status;
    this.maxLength = maxLength;
    // The nonce of the schedule frame awaiting its answer, and its text.
    this.waiting = null;
    this.refreshTimer = null;
  }

  start() {
    this.button.addEventListener("click", () => this.toggle());
    this.menu.addEventListener("click", (event) => {
      const choice = event.target.closest("[data-later]");
      if (choice) {
        this.choose(choice.dataset.later);
      }
    });
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.close();
        this.button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target) &&
          !this.button.contains(event.target)) {
        this.close();
      }
    });
    this.list.addEventListener("click", (event) => {
      const cancel = event.target.closest("button[data-cancel]");
      if (cancel) {
        cancel.disabled = true;
        this.connection.send({type: "cancel_scheduled", id: Number(cancel.dataset.cancel)});
      }
    });
  }

  toggle() {
    if (this.menu.hidden) {
      this.open();
    } else {
      this.close();
    }
  }

  open() {
    const now = new Date();
    for (const item of this.menu.querySelectorAll("[data-later]")) {
      const when = item.querySelector(".when");
      const choice = CHOICES[item.dataset.later];
      if (when && choice) {
        // "Tomorrow at 9:00" says its time: its day is what it adds.
        when.textContent = item.dataset.later === "tomorrow9"
          ? choice(now).toLocaleDateString([], {weekday: "short", day: "numeric", month: "short"})
          : whenLabel(choice(now), now);
      }
    }
    this.customInput.min = toLocalInput(now);
    if (!this.customInput.value) {
      this.customInput.value = toLocalInput(CHOICES["1h"](now));
    }
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    const first = this.menu.querySelector("[data-later]");
    if (first) {
      first.focus();
    }
  }

  close() {
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  // The reader picked `key` ("20m", "1h", "tomorrow9" or "custom").
  choose(key) {
    const at = key === "custom" ? fromLocalInput(this.customInput.value)
      : CHOICES[key] && CHOICES[key](new Date());
    if (!at) {
      this.status.showError("Choose a date and time.");
      return;
    }
    if (at.getTime() <= Date.now()) {
      this.status.showError("That time has passed; choose a later one.");
      return;
    }
    this.send(at);
  }

  // Schedule what the composer holds for `at` (a Date).
  send(at) {
    const text = this.messageInput.value;
    if (!text.trim()) {
      this.status.showError("Write the message first, then choose when to send it.");
      this.messageInput.focus();
      return;
    }
    if (codePoints(text) > this.maxLength) {
      this.status.showError("The message must be at most " + this.maxLength + " characters.");
      return;
    }
    const nonce = randomNonce();
    if (!this.connection.send({type: "schedule", message: text, at: at.toISOString(), nonce})) {
      this.status.showError("Not connected; try again in a moment.");
      return;
    }
    this.waiting = {nonce, text};
    this.close();
  }

  // The socket opened: ask for the list (it may have changed elsewhere).
  opened() {
    this.connection.send({type: "list_scheduled"});
  }

  // A `scheduled` frame: the reader's pending ones in this room.
  receive(frame) {
    if (this.waiting && frame.nonce === this.waiting.nonce) {
      // Scheduled: the composer is emptied, unless the reader has
      // written something else meanwhile.
      if (this.messageInput.value === this.waiting.text) {
        this.messageInput.value = "";
        this.messageInput.dispatchEvent(new Event("input", {bubbles: true}));
      }
      this.waiting = null;
    }
    this.render(Array.isArray(frame.pending) ? frame.pending : []);
  }

  render(pending) {
    const now = new Date();
    const items = pending.map((entry) => {
      const li = document.createElement("li");
      li.className = "scheduled-message";
      li.dataset.id = String(entry.id);
      const when = document.createElement("time");
      when.className = "when";
      when.dateTime = entry.at;
      when.textContent = whenLabel(new Date(entry.at), now);
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = entry.message;
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel";
      cancel.dataset.cancel = String(entry.id);
      cancel.textContent = "Cancel";
      cancel.setAttribute("aria-label", "Cancel the message for " + when.textContent);
      li.append(when, text, cancel);
      return li;
    });
    this.list.replaceChildren(...items);
    this.list.hidden = items.length === 0;
    this.refreshAt(pending);
  }

  // Ask for the list again just after the soonest one's time, so that it
  // leaves the list once posted.
  refreshAt(pending) {
    window.clearTimeout(this.refreshTimer);
    const times = pending.map((entry) => Date.parse(entry.at)).filter(Number.isFinite);
    if (!times.length) {
      return;
    }
    const wait = Math.max(0, Math.min(...times) - Date.now()) + REFRESH_AFTER_MS;
    // setTimeout holds at most 2**31 - 1 ms (about 24.8 days).
    this.refreshTimer = window.setTimeout(() => this.opened(), Math.min(wait, 2 ** 31 - 1));
  }
}
