// The composer (#chatform): the message box, which grows with what is
// typed, sends on Enter and tells the room the reader is typing; and, for
// a visitor without a server-set handle, the per-message name field,
// remembered in localStorage.

export class Composer {
  // `form`: #chatform; `messageInput`: #message; `handleInput`: #handle, or
  // null with a server-set handle. `connection`: the Connection frames go
  // through. `status`: the page's Status. `pane`: the Pane, taken to the
  // newest message on sending. `typingIntervalMs`: the least time between
  // two {"type": "typing"} frames.
  constructor({form, messageInput, handleInput, connection, status, pane, typingIntervalMs}) {
    this.form = form;
    this.messageInput = messageInput;
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
        form.requestSubmit();
      }
    });
    messageInput.addEventListener("input", () => this.typed());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  // The message box grows with what is typed, up to the height its CSS allows.
  fit() {
    this.messageInput.style.height = "auto";
    this.messageInput.style.height = this.messageInput.scrollHeight + "px";
  }

  focus() {
    this.messageInput.focus();
  }

  // Keep the name typed in the per-message name field for the next visit.
  rememberHandle() {
    if (this.handleInput) {
      window.localStorage.setItem("chat-handle", this.handleInput.value);
    }
  }

  typed() {
    this.fit();
    if (!this.messageInput.value.trim() || Date.now() - this.typingSentAt < this.typingIntervalMs) {
      return;
    }
    if (this.connection.send({type: "typing"})) {
      this.typingSentAt = Date.now();
    }
  }

  submit() {
    if (!this.connection.open) {
      this.status.showError("Not connected yet; your message was not sent.");
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
    this.focus();
    // Whoever speaks wants to see the answer.
    this.pane.showNewest();
  }
}
