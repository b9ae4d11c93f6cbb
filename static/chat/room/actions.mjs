// What a reader does to a message (docs/protocol.md, "Changing
// messages"): each message has a menu button, which opens a menu of a few
// common emoji to react with, "Copy link", and, where the reader may,
// "Edit" and "Delete"; a reaction's button toggles the reader's own;
// editing replaces the text with a box in place (Enter saves, Escape
// cancels), and Arrow-Up in an empty composer edits the reader's last
// message. The frames go out through the Connection; what changed comes
// back as change frames, and a refusal as an error frame, shown in the
// error line by the entry module.

import {permalink} from "./render.mjs";

// The picker's emoji.
export const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

// How long "Link copied" stays, ms.
const NOTICE_MS = 4000;

function button(className, text) {
  const node = document.createElement("button");
  node.type = "button";
  if (className) {
    node.className = className;
  }
  node.textContent = text;
  return node;
}

// What the reader may do to the message of `li` (the rules of
// chat/conversations/rules.py, as far as the page knows them; the server
// decides): {react, edit, remove}.
export function allowed(li, reader, now = Date.now()) {
  if (li.classList.contains("deleted")) {
    return {react: false, edit: false, remove: false};
  }
  const mine = li.classList.contains("mine");
  const time = li.querySelector(".meta time");
  const sent = time ? Date.parse(time.getAttribute("datetime")) : NaN;
  const inWindow = !reader.editWindowMs || now - sent <= reader.editWindowMs;
  return {
    react: Boolean(reader.identityKind),
    edit: mine && inWindow && li.dataset.text !== undefined,
    remove: mine || reader.moderator
  };
}

export class Actions {
  // `list`: the <ol> #messages. `messageInput`: the composer's #message,
  // where Arrow-Up edits. `connection`: the Connection. `status`: the
  // page's Status. `notice`: #notice, a polite status line. `reader`:
  // {identityKind, handle, moderator (bool), editWindowMs (0 for no
  // limit), roomPath}. `onEditEnd(message)`: called when an edit box
  // closes with the newest state of its message that came meanwhile (null
  // for none).
  constructor({list, messageInput, connection, status, notice, reader, onEditEnd}) {
    this.list = list;
    this.messageInput = messageInput;
    this.connection = connection;
    this.status = status;
    this.notice = notice;
    this.reader = reader;
    this.onEditEnd = onEditEnd;
    this.menu = null;
    this.menuButton = null;
    this.editing = null;  // {li, form, returnFocus, held}
    this.noticeTimer = null;

    list.addEventListener("click", (event) => {
      const target = event.target.closest("button");
      if (!target || !list.contains(target)) {
        return;
      }
      if (target.classList.contains("actions-button")) {
        if (this.menuButton === target) {
          this.closeMenu(true);
        } else {
          this.openMenu(target);
        }
      } else if (target.classList.contains("reaction")) {
        this.react(target.closest("li.message"), target.dataset.emoji);
      }
    });
    messageInput.addEventListener("keydown", (event) => {
      if (event.key === "ArrowUp" && !event.shiftKey && !event.altKey && !event.ctrlKey &&
          !event.metaKey && !event.isComposing && messageInput.value === "") {
        const last = this.lastEditable();
        if (last) {
          event.preventDefault();
          this.startEdit(last, messageInput);
        }
      }
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.menu && !this.menu.contains(event.target) && event.target !== this.menuButton) {
        this.closeMenu(false);
      }
    });
    window.addEventListener("resize", () => this.closeMenu(false));
  }

  // Give the message's `li` its menu button, once.
  decorate(li) {
    if (li.querySelector(":scope > .actions-button")) {
      return;
    }
    const handle = li.querySelector(".meta .handle");
    const opener = button("actions-button", "⋯");
    opener.setAttribute("aria-haspopup", "menu");
    opener.setAttribute("aria-expanded", "false");
    opener.setAttribute("aria-label", "Actions for the message from " +
      (handle ? handle.textContent : "someone"));
    li.append(opener);
  }

  // The message of `old` is now shown by `li`: a menu open on it stays
  // open, on the new one's button.
  replaced(old, li) {
    if (!this.menuButton || !old.contains(this.menuButton)) {
      return;
    }
    const opener = li.querySelector(":scope > .actions-button");
    if (!opener || li.classList.contains("deleted")) {
      this.closeMenu(false);
      return;
    }
    this.menuButton = opener;
    opener.setAttribute("aria-expanded", "true");
    li.classList.add("menu-open");
    this.placeMenu();
  }

  // Send `frame`, or say that it could not be sent. Returns whether it was.
  send(frame, what) {
    if (this.connection.send(frame)) {
      return true;
    }
    this.status.showError("Not connected; your " + what + " was not sent. Try again once connected.");
    return false;
  }

  react(li, emoji) {
    if (li && emoji) {
      this.send({type: "react", id: Number(li.dataset.id), emoji}, "reaction");
    }
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
    window.clearTimeout(this.noticeTimer);
    this.noticeTimer = window.setTimeout(() => {
      this.notice.hidden = true;
    }, NOTICE_MS);
  }

  copyLink(li) {
    const url = new URL(permalink(this.reader.roomPath, li.dataset.seq), window.location.href).href;
    const copied = navigator.clipboard ? navigator.clipboard.writeText(url) :
      Promise.reject(new Error("No clipboard"));
    copied.then(() => this.showNotice("Link copied: " + url),
      () => this.showNotice("The message's link: " + url));
  }

  // ---- The menu ---------------------------------------------------------------

  openMenu(opener) {
    this.closeMenu(false);
    const li = opener.closest("li.message");
    const may = allowed(li, this.reader);
    const menu = document.createElement("div");
    menu.className = "message-menu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", opener.getAttribute("aria-label"));
    if (may.react) {
      const picker = document.createElement("div");
      picker.className = "picker";
      picker.setAttribute("role", "group");
      picker.setAttribute("aria-label", "React");
      COMMON_EMOJI.forEach((emoji) => {
        const item = button("emoji-choice", emoji);
        item.setAttribute("role", "menuitem");
        item.setAttribute("aria-label", "React with " + emoji);
        item.title = "React with " + emoji;
        item.addEventListener("click", () => {
          const target = this.menuMessage();
          this.closeMenu(true);
          this.react(target, emoji);
        });
        picker.append(item);
      });
      menu.append(picker);
    }
    const item = (text, action, className) => {
      const node = button("menu-item" + (className ? " " + className : ""), text);
      node.setAttribute("role", "menuitem");
      node.addEventListener("click", action);
      menu.append(node);
    };
    item("Copy link", () => {
      const target = this.menuMessage();
      this.closeMenu(true);
      this.copyLink(target);
    });
    if (may.edit) {
      item("Edit", () => {
        const target = this.menuMessage();
        const returnFocus = this.menuButton;
        this.closeMenu(false);
        this.startEdit(target, returnFocus);
      });
    }
    if (may.remove) {
      item("Delete", () => this.confirmDelete(), "danger");
    }
    menu.addEventListener("keydown", (event) => this.menuKey(event));
    document.body.append(menu);
    this.menu = menu;
    this.menuButton = opener;
    opener.setAttribute("aria-expanded", "true");
    li.classList.add("menu-open");
    this.placeMenu();
    this.menuItems()[0].focus();
    this.scroller = li.closest(".scroller");
    this.onScroll = () => this.placeMenu();
    if (this.scroller) {
      this.scroller.addEventListener("scroll", this.onScroll, {passive: true});
    }
  }

  // The <li> of the message the open menu is for (redrawn since, maybe).
  menuMessage() {
    return this.menuButton.closest("li.message");
  }

  menuItems() {
    return Array.from(this.menu.querySelectorAll("[role=menuitem]"));
  }

  // The menu sits under its button, or above it when there is no room
  // below; it closes when its button scrolls out of the pane.
  placeMenu() {
    if (!this.menu) {
      return;
    }
    const anchor = this.menuButton.getBoundingClientRect();
    const pane = this.scroller ? this.scroller.getBoundingClientRect() : null;
    if (pane && (anchor.bottom < pane.top || anchor.top > pane.bottom)) {
      this.closeMenu(false);
      return;
    }
    const menu = this.menu.getBoundingClientRect();
    const margin = 8;
    let top = anchor.bottom + 4;
    if (top + menu.height > window.innerHeight - margin) {
      top = Math.max(margin, anchor.top - menu.height - 4);
    }
    const left = Math.min(Math.max(margin, anchor.right - menu.width),
      window.innerWidth - menu.width - margin);
    this.menu.style.top = top + "px";
    this.menu.style.left = Math.max(margin, left) + "px";
  }

  // `refocus`: whether focus goes back to the menu's button.
  closeMenu(refocus) {
    if (!this.menu) {
      return;
    }
    const opener = this.menuButton;
    this.menu.remove();
    this.menu = null;
    this.menuButton = null;
    if (this.scroller) {
      this.scroller.removeEventListener("scroll", this.onScroll);
    }
    opener.setAttribute("aria-expanded", "false");
    const li = opener.closest("li.message");
    if (li) {
      li.classList.remove("menu-open");
    }
    if (refocus && opener.isConnected) {
      opener.focus();
    }
  }

  menuKey(event) {
    const items = this.menuItems();
    const at = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowDown" || event.key === "ArrowRight") {
      next = (at + 1) % items.length;
    } else if (event.key === "ArrowUp" || event.key === "ArrowLeft") {
      next = (at - 1 + items.length) % items.length;
    } else if (event.key === "Home") {
      next = 0;
    } else if (event.key === "End") {
      next = items.length - 1;
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.closeMenu(true);
      return;
    } else if (event.key === "Tab") {
      this.closeMenu(true);
      return;
    } else {
      return;
    }
    event.preventDefault();
    items[next].focus();
  }

  // Delete asks once more, in the menu itself.
  confirmDelete() {
    const menu = this.menu;
    menu.replaceChildren();
    const question = document.createElement("p");
    question.className = "menu-question";
    question.textContent = "Delete this message?";
    const yes = button("menu-item danger", "Delete");
    const no = button("menu-item", "Cancel");
    [yes, no].forEach((node) => node.setAttribute("role", "menuitem"));
    yes.addEventListener("click", () => {
      const target = this.menuMessage();
      this.closeMenu(true);
      this.send({type: "delete", id: Number(target.dataset.id)}, "delete");
    });
    no.addEventListener("click", () => this.closeMenu(true));
    menu.append(question, yes, no);
    this.placeMenu();
    no.focus();
  }

  // ---- Editing in place -------------------------------------------------------

  // The reader's last message they may still edit, or null.
  lastEditable() {
    const mine = Array.from(this.list.querySelectorAll("li.message.mine:not(.deleted)"));
    for (let index = mine.length - 1; index >= 0; index -= 1) {
      if (allowed(mine[index], this.reader).edit) {
        return mine[index];
      }
    }
    return null;
  }

  // Replace the text of `li` with an edit box; focus goes back to
  // `returnFocus` when it closes.
  startEdit(li, returnFocus) {
    this.endEdit(false);
    const body = li.querySelector(".body");
    if (!body) {
      return;
    }
    const form = document.createElement("form");
    form.className = "edit";
    const box = document.createElement("textarea");
    box.className = "edit-box";
    box.rows = 1;
    box.setAttribute("aria-label", "Edit message");
    box.setAttribute("aria-describedby", "edit-hint");
    if (this.messageInput.maxLength > 0) {
      box.maxLength = this.messageInput.maxLength;
    }
    box.value = li.dataset.text;
    const hint = document.createElement("p");
    hint.id = "edit-hint";
    hint.className = "hint edit-hint";
    hint.textContent = "Enter saves; Escape cancels.";
    const save = button("save", "Save");
    save.type = "submit";
    const cancel = button("cancel", "Cancel");
    form.append(box, hint, save, cancel);
    body.hidden = true;
    body.after(form);
    li.classList.add("editing");
    this.editing = {li, form, returnFocus, held: null};

    const fit = () => {
      box.style.height = "auto";
      box.style.height = box.scrollHeight + "px";
    };
    box.addEventListener("input", fit);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.endEdit(true);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveEdit(box.value);
    });
    cancel.addEventListener("click", () => this.endEdit(true));
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    fit();
    li.scrollIntoView({block: "nearest"});
  }

  saveEdit(text) {
    const {li} = this.editing;
    if (!text.trim()) {
      this.status.showError("A message cannot be empty; delete it instead.");
      return;
    }
    if (text !== li.dataset.text &&
        !this.send({type: "edit", id: Number(li.dataset.id), message: text}, "edit")) {
      return;
    }
    this.endEdit(true);
  }

  // Close the edit box, if one is open; `refocus`: focus goes back where
  // the edit began.
  endEdit(refocus) {
    const editing = this.editing;
    if (!editing) {
      return;
    }
    this.editing = null;
    editing.form.remove();
    const body = editing.li.querySelector(".body");
    if (body) {
      body.hidden = false;
    }
    editing.li.classList.remove("editing");
    if (refocus && editing.returnFocus && editing.returnFocus.isConnected) {
      editing.returnFocus.focus();
    }
    if (editing.held) {
      this.onEditEnd(editing.held);
    }
  }

  // A change to `message` came: returns true when it is held back until
  // its edit box closes (the reader's words are not swept away); a delete
  // closes the box and goes through.
  hold(message) {
    if (!this.editing || Number(this.editing.li.dataset.id) !== message.id) {
      return false;
    }
    if (message.deleted === true) {
      this.editing.held = null;
      this.endEdit(false);
      return false;
    }
    this.editing.held = message;
    return true;
  }
}
