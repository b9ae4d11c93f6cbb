// The reader's messages on their way, shown below the room's messages
// (#outbox) as the Outbox holds them: "sending…" until the room echoes
// them back, or refused, with the server's reason, Retry and Edit. The
// room's copy replaces a pending one once it is shown in #messages.

import {REFUSED} from "./outbox.mjs";

function button(className, text) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  return element;
}

export class Pending {
  // `list`: #outbox, the <ol> after #messages in the pane. `messages`:
  // #messages. `outbox`: the page's Outbox. `myHandle`: the name the
  // reader speaks as. `onRetry(nonce)` and `onEdit(nonce)`: the reader
  // chose Retry or Edit on a refused message.
  constructor({list, messages, outbox, myHandle, onRetry, onEdit}) {
    this.list = list;
    this.messages = messages;
    this.outbox = outbox;
    this.myHandle = myHandle;
    // nonce -> the <li> showing it.
    this.items = new Map();
    // id -> the <li> of an echoed message, until the room's copy shows.
    this.echoes = new Map();
    list.addEventListener("click", (event) => {
      const action = event.target.closest("button");
      const item = action && action.closest("li[data-nonce]");
      if (!item) {
        return;
      }
      if (action.classList.contains("retry")) {
        onRetry(item.dataset.nonce);
      } else if (action.classList.contains("edit")) {
        onEdit(item.dataset.nonce);
      }
    });
  }

  // Show what the Outbox holds now: an item for each entry, in order,
  // with its state.
  update() {
    const nonces = new Set();
    this.outbox.entries.forEach((entry) => {
      nonces.add(entry.nonce);
      const item = this.items.get(entry.nonce) || this.add(entry);
      const refused = entry.state === REFUSED;
      item.dataset.state = entry.state;
      item.querySelector(".pending-state").textContent = refused
        ? "Not sent: " + ((entry.error && (entry.error.detail || entry.error.error)) || "refused")
        : "sending…";
      item.querySelector(".pending-actions").hidden = !refused;
    });
    this.items.forEach((item, nonce) => {
      if (!nonces.has(nonce) && !item.dataset.awaiting) {
        this.forget(nonce);
      }
    });
    this.list.hidden = this.items.size === 0;
  }

  add(entry) {
    const item = document.createElement("li");
    item.className = "message pending";
    item.dataset.nonce = entry.nonce;
    const handle = document.createElement("span");
    handle.className = "handle";
    handle.textContent = this.myHandle;
    const state = document.createElement("span");
    state.className = "pending-state";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = entry.text;
    const actions = document.createElement("span");
    actions.className = "pending-actions";
    actions.append(button("retry", "Retry"), " ", button("edit", "Edit"));
    item.append(handle, " ", state, " ", text, actions);
    this.list.append(item);
    this.items.set(entry.nonce, item);
    return item;
  }

  forget(nonce) {
    const item = this.items.get(nonce);
    if (item) {
      item.remove();
      this.items.delete(nonce);
    }
    this.list.hidden = this.items.size === 0;
  }

  // The message frame echoing `nonce` has come, as message `id`: its
  // pending copy goes as soon as the room's copy is shown (at once if it
  // already is; held back by a catch-up, a moment later).
  echoed(nonce, id) {
    const item = this.items.get(nonce);
    if (!item) {
      return;
    }
    if (this.messages.querySelector('li[data-id="' + Number(id) + '"]')) {
      this.forget(nonce);
    } else {
      item.dataset.awaiting = String(id);
      this.echoes.set(Number(id), nonce);
    }
  }

  // Message `id` has been shown in #messages.
  shown(id) {
    const nonce = this.echoes.get(Number(id));
    if (nonce !== undefined) {
      this.echoes.delete(Number(id));
      this.forget(nonce);
    }
  }
}
