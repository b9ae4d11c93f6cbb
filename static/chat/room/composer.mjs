// The composer (#chatform): the message box, which grows with what is
// typed, sends on Enter and tells the room the reader is typing; its
// counter near the server's length limit, past which nothing is sent;
// and, for a visitor without a server-set handle, the per-message name
// field, remembered in localStorage.

import {measure} from "./message-length.mjs";

// How the number of characters is written in the counter ("2,500").
const numbers = new Intl.NumberFormat();

export class Composer {
  // `form`: #chatform; `messageInput`: #message; `sendButton`: its submit
  // button; `counter`: #counter, with its `.count` and `.too-long`;
  // `handleInput`: #handle, or null with a server-set handle. `maxLength`:
  // the server's CHAT_MESSAGE_MAX_LENGTH, in code points. `connection`:
  // the Connection frames go through. `status`: the page's Status. `pane`:
  // the Pane, taken to the newest message on sending. `typingIntervalMs`:
  // the least time between two {"type": "typing"} frames.
  constructor({
    form, messageInput, sendButton, counter, handleInput, maxLength, connection, status, pane,
    typingIntervalMs
  }) {
    this.form = form;
    this.messageInput = messageInput;
    this.sendButton = sendButton;
    this.counter = counter;
    this.maxLength = maxLength;
    this.handleInput = handleInput;
    this.connection = connection;
    this.status = status;
    this.pane = pane;
    this.typingIntervalMs = typingIntervalMs;
    this.typingSentAt = -Infinity;

    if (handleInput) {
      handleInput.value = window.localStorage.getItem("chat-handle") || "";
    }
    messageInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        // Past the limit, Enter does nothing: the counter says why.
        if (!this.measure().over) {
          form.requestSubmit();
        }
      }
    });
    messageInput.addEventListener("input", () => this.typed());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.measure();
  }

  // The message box grows with what is typed, up to the height its CSS allows.
  fit() {
    this.messageInput.style.height = "auto";
    this.messageInput.style.height = this.messageInput.scrollHeight + "px";
  }

  focus() {
    this.messageInput.focus();
  }

  // Show the counter for what the box holds, and refuse to send past the
  // limit. Returns the measure (message-length.mjs).
  measure() {
    const length = measure(this.messageInput.value, this.maxLength);
    this.counter.hidden = !length.shown;
    this.counter.classList.toggle("over", length.over);
    this.counter.querySelector(".count").textContent =
      numbers.format(length.count) + " / " + numbers.format(length.max);
    this.counter.querySelector(".too-long").textContent = length.over
      ? "Too long to send: " + numbers.format(length.excess) +
        (length.excess === 1 ? " character" : " characters") + " over the limit of " +
        numbers.format(length.max) + "."
      : "";
    this.messageInput.setAttribute("aria-invalid", length.over ? "true" : "false");
    this.sendButton.disabled = length.over;
    return length;
  }

  // Keep the name typed in the per-message name field for the next visit.
  rememberHandle() {
    if (this.handleInput) {
      window.localStorage.setItem("chat-handle", this.handleInput.value);
    }
  }

  typed() {
    this.fit();
    this.measure();
    if (!this.messageInput.value.trim() || Date.now() - this.typingSentAt < this.typingIntervalMs) {
      return;
    }
    if (this.connection.send({type: "typing"})) {
      this.typingSentAt = Date.now();
    }
  }

  submit() {
    if (this.measure().over) {
      return;
    }
    if (!this.connection.open) {
      this.status.showError("Not connected yet; your message was not sent.", {connection: true});
      return;
    }
    this.status.clearError();
    let frame;
    if (this.handleInput) {
      this.rememberHandle();
      frame = {handle: this.handleInput.value, message: this.messageInput.value};
    } else {
      frame = {type: "message", message: this.messageInput.value};
    }
    this.connection.send(frame);
    this.messageInput.value = "";
    this.fit();
    this.measure();
    this.focus();
    // Whoever speaks wants to see the answer.
    this.pane.showNewest();
  }
}
