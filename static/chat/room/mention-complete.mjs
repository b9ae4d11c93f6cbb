// Completing names in the message box (docs/mentions.md): typing "@" and
// the start of a name shows a list (#mention-list) of the names that
// match, from the room's members (a private room's member list) and who is
// here (the roster), and @here. Arrow keys move through it, Enter or Tab
// picks, Escape closes it, and so does a click elsewhere; a click on a
// name picks it. The list is an ARIA listbox the message box controls.

import {complete, completions, typedMention} from "./mentions.mjs";

export class MentionComplete {
  // `input`: the message box (#message). `names()`: the names to offer
  // from (an array of strings). `myHandle`: the reader's own ("" for
  // none), never offered.
  constructor({input, names, myHandle}) {
    this.input = input;
    this.names = names;
    this.myHandle = myHandle;
    this.typed = null;  // {start, query} while a list is shown
    this.offered = [];
    this.active = 0;

    this.list = document.createElement("ul");
    this.list.id = "mention-list";
    this.list.className = "mention-list";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Mention someone");
    this.list.hidden = true;
    input.closest("form").append(this.list);
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    input.setAttribute("aria-expanded", "false");

    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => this.close());
    // On the form, in the capture phase: before the composer's own keys
    // (Enter sends), which a key used here never reaches.
    input.closest("form").addEventListener("keydown", (event) => this.key(event), true);
    // A press on a name picks it without taking the focus from the box.
    this.list.addEventListener("mousedown", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) {
        event.preventDefault();
        this.pick(Number(option.dataset.index));
      }
    });
  }

  get open() {
    return !this.list.hidden;
  }

  // Look at what is typed before the caret, and show or close the list.
  update() {
    const caret = this.input.selectionStart;
    const typed = caret === this.input.selectionEnd ? typedMention(this.input.value, caret) : null;
    this.offered = typed ? completions(typed.query, this.names(), this.myHandle) : [];
    if (!typed || !this.offered.length) {
      this.close();
      return;
    }
    this.typed = typed;
    this.active = 0;
    this.show();
  }

  show() {
    this.list.replaceChildren(...this.offered.map((name, index) => {
      const option = document.createElement("li");
      option.id = "mention-option-" + index;
      option.setAttribute("role", "option");
      option.dataset.index = index;
      option.textContent = "@" + name;
      option.setAttribute("aria-selected", String(index === this.active));
      return option;
    }));
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", "mention-option-" + this.active);
  }

  close() {
    this.typed = null;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  key(event) {
    if (!this.open || event.target !== this.input || event.isComposing) {
      return;
    }
    const moves = {ArrowDown: 1, ArrowUp: -1};
    if (event.key in moves) {
      const count = this.offered.length;
      this.active = (this.active + moves[event.key] + count) % count;
      this.show();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  // Put "@name " in place of what was typed of it.
  pick(index) {
    const name = this.offered[index];
    if (name === undefined || !this.typed) {
      return;
    }
    const done = complete(this.input.value, this.typed.start, this.input.selectionStart, name);
    this.close();
    this.input.value = done.text;
    this.input.setSelectionRange(done.caret, done.caret);
    // The composer measures and sends "typing" as for any other input.
    this.input.dispatchEvent(new Event("input", {bubbles: true}));
    this.close();
  }
}
