// The composer (#chatform): the message box, which grows with what is
// typed, sends on Enter and tells the room the reader is typing; its
// counter near the server's length limit, past which nothing is sent; and
// the messages sent, through the Outbox, each with a nonce, queued while
// the socket is down and sent once it is back.
//
// A visitor without a name picks one with the guest-name form (#guestform)
// before sending: the composer asks for it, and what was typed goes with
// the form's page load (kept in sessionStorage), to be sent once the name
// is picked.

import {measure} from "./message-length.mjs";

// How the number of characters is written in the counter ("2,500").
const numbers = new Intl.NumberFormat();

// Where a visitor's draft waits while the page reloads with their name,
// per room (sessionStorage: this tab only).
const DRAFT_KEY = "chat-draft:";

export class Composer {
  // Elements: `form` (#chatform), `messageInput` (#message), `sendButton`
  // (its submit button), `counter` (#counter, with its `.count` and
  // `.too-long`), and `guestForm` and `guestNameInput` (#guestform and its
  // name field, or null for a reader who has a name). `maxLength`: the
  // server's CHAT_MESSAGE_MAX_LENGTH, in code points. `label`: the room's.
  // `connection`: the Connection frames go through. `outbox`: the
  // page's Outbox; `pending`: its Pending view. `status`: the page's
  // Status. `pane`: the Pane, taken to the newest message on sending.
  // `typingIntervalMs`: the least time between two {"type": "typing"}
  // frames.
  constructor({
    form, messageInput, sendButton, counter, guestForm, guestNameInput, maxLength, label,
    connection, outbox, pending, status, pane, typingIntervalMs
  }) {
    this.form = form;
    this.messageInput = messageInput;
    this.sendButton = sendButton;
    this.counter = counter;
    this.guestForm = guestForm;
    this.guestNameInput = guestNameInput;
    this.maxLength = maxLength;
    this.draftKey = DRAFT_KEY + label;
    this.connection = connection;
    this.outbox = outbox;
    this.pending = pending;
    this.status = status;
    this.pane = pane;
    this.typingIntervalMs = typingIntervalMs;
    this.typingSentAt = -Infinity;
    // Set when a visitor without a name asked to send: what they typed is
    // sent once they have picked one.
    this.sendOnceNamed = false;

    messageInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    messageInput.addEventListener("input", () => this.typed());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    if (guestForm) {
      guestForm.addEventListener("submit", () => this.keepDraft());
    }
    this.restoreDraft();
    this.measure();
  }

  // Whether the reader has a name to send under.
  get named() {
    return !this.guestForm;
  }

  // The message box grows with what is typed, up to the height its CSS allows.
  fit() {
    this.messageInput.style.height = "auto";
    this.messageInput.style.height = this.messageInput.scrollHeight + "px";
  }

  focus() {
    this.messageInput.focus();
  }

  // Where the page starts: in the message box, or, when the name just
  // picked was refused, in the name field beside its error.
  start() {
    if (this.guestForm && this.guestForm.querySelector(".errorlist")) {
      this.guestNameInput.focus();
    } else {
      this.focus();
    }
  }

  // Show the counter for what the box holds, and refuse to send past the
  // limit. Returns the measure (message-length.mjs).
  measure() {
    const length = measure(this.messageInput.value, this.maxLength);
    this.counter.hidden = !length.shown;
    this.counter.classList.toggle("over", length.over);
    this.counter.querySelector(".count").textContent =
      numbers.format(length.count) + " / " + numbers.format(length.max);
    const tooLong = this.counter.querySelector(".too-long");
    tooLong.textContent = length.over
      ? "Too long to send: " + numbers.format(length.excess) +
        (length.excess === 1 ? " character" : " characters") + " over the limit of " +
        numbers.format(length.max) + "."
      : "";
    this.messageInput.setAttribute("aria-invalid", length.over ? "true" : "false");
    this.sendButton.disabled = length.over;
    return length;
  }

  typed() {
    this.fit();
    this.measure();
    if (!this.messageInput.value.trim()) {
      this.sendOnceNamed = false;
    }
    if (!this.named || !this.messageInput.value.trim() ||
        Date.now() - this.typingSentAt < this.typingIntervalMs) {
      return;
    }
    if (this.connection.send({type: "typing"})) {
      this.typingSentAt = Date.now();
    }
  }

  // Enter or Send: what the box holds goes to the room, unless it is
  // empty, too long (the counter says why), or there is no name yet.
  submit() {
    const text = this.messageInput.value;
    if (!text.trim() || this.measure().over) {
      return;
    }
    if (!this.named) {
      this.askForName("Pick a name first; your message will be sent once you have one.");
      this.sendOnceNamed = true;
      return;
    }
    this.messageInput.value = "";
    this.fit();
    this.measure();
    this.send(text);
    this.focus();
    // Whoever speaks wants to see the answer.
    this.pane.showNewest();
  }

  // Ask a visitor without a name to pick one, saying `why` (str).
  askForName(why) {
    this.status.showError(why);
    this.guestNameInput.focus();
  }

  // Queue `text` (str) as a message and send what can go now.
  send(text) {
    this.outbox.add(text);
    this.flush();
    if (!this.connection.open && this.connection.opens > 0) {
      this.status.showError(
        "Not connected; your message will be sent when the connection is back.",
        {connection: true}
      );
    }
  }

  // Send the queued messages, if the socket is open; called on sending,
  // and by the entry module when a socket opens.
  flush() {
    if (this.connection.open) {
      this.outbox.flush((frame) => this.connection.send(frame));
    }
    this.pending.update();
  }

  // Retry on a refused message: sent again, with its nonce.
  retry(nonce) {
    if (this.outbox.retry(nonce)) {
      this.status.clearError();
      this.flush();
    }
  }

  // Edit on a refused message: back into the box, before whatever is
  // being typed there.
  takeBack(nonce) {
    const entry = this.outbox.remove(nonce);
    if (!entry) {
      return;
    }
    this.pending.update();
    this.status.clearError();
    const typed = this.messageInput.value;
    this.messageInput.value = typed ? entry.text + "\n" + typed : entry.text;
    this.fit();
    this.measure();
    this.focus();
  }

  // The guest-name form is being sent: keep what is typed for the page
  // that comes back.
  keepDraft() {
    const text = this.messageInput.value;
    try {
      if (text.trim()) {
        window.sessionStorage.setItem(this.draftKey, JSON.stringify({
          text, send: this.sendOnceNamed
        }));
      } else {
        window.sessionStorage.removeItem(this.draftKey);
      }
    } catch (error) {
      // Storage refused (private mode, full): the draft is lost, as before.
    }
  }

  // A draft kept by keepDraft(): sent, if the visitor asked to send it and
  // now has a name; else back in the box.
  restoreDraft() {
    let draft = null;
    try {
      draft = JSON.parse(window.sessionStorage.getItem(this.draftKey) || "null");
      window.sessionStorage.removeItem(this.draftKey);
    } catch (error) {
      return;
    }
    if (!draft || typeof draft.text !== "string" || !draft.text.trim()) {
      return;
    }
    if (draft.send === true && this.named && !measure(draft.text, this.maxLength).over) {
      this.send(draft.text);
      return;
    }
    this.messageInput.value = draft.text;
    this.sendOnceNamed = draft.send === true;
    this.fit();
  }
}
