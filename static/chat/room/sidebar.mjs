// The room page's sidebar (#sidebar): the reader's rooms with their unread
// and mention counts, kept live from the /stream/ socket's payloads; on a
// narrow screen it folds behind the "Rooms" menu button. The current room
// shows no count: its messages are on screen.

const ACTIVITY = "activity";

export class Sidebar {
  // `nav`: the <nav id="sidebar">; `list`: its <ul>; `button`: the menu
  // button (or null); `badge`: the button's count; `current`: this room's
  // label.
  constructor({nav, list, button, badge, current}) {
    this.nav = nav;
    this.list = list;
    this.button = button;
    this.badge = badge;
    this.current = current;
    if (button) {
      button.addEventListener("click", () => this.toggle());
      document.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && this.isOpen()) {
          this.toggle(false);
          button.focus();
        }
      });
    }
    this.updateBadge();
  }

  isOpen() {
    return this.nav.classList.contains("open");
  }

  // Opens or closes the menu (narrow screens); `open` forces a state.
  toggle(open = !this.isOpen()) {
    this.nav.classList.toggle("open", open);
    if (this.button) {
      this.button.setAttribute("aria-expanded", String(open));
    }
  }

  // One rooms payload: updates, adds or (gone) removes its room.
  update(payload) {
    let item = this.list.querySelector(`li[data-label="${CSS.escape(payload.label)}"]`);
    if (payload.gone) {
      if (item) {
        item.remove();
      }
      this.updateBadge();
      return;
    }
    if (!item) {
      item = this.make(payload);
    }
    setCount(item.querySelector(".unread"), payload.unread);
    if (payload.mentions !== undefined) {
      setCount(item.querySelector(".mentions"), payload.mentions);
    }
    item.dataset[ACTIVITY] = payload.last_activity || "";
    this.place(item);
    this.updateBadge();
  }

  // A new <li> for a room, as templates/chat/sidebar.html renders one.
  make(payload) {
    const item = document.createElement("li");
    item.dataset.label = payload.label;
    const link = document.createElement("a");
    link.href = `/${payload.label}/`;
    if (payload.label === this.current) {
      link.setAttribute("aria-current", "page");
    }
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = payload.name || payload.label;
    link.append(name, counter("mentions", "mentions"), counter("unread", "unread"));
    item.append(link);
    return item;
  }

  // Keeps the list newest activity first, as the server orders it.
  place(item) {
    const activity = item.dataset[ACTIVITY];
    const before = Array.from(this.list.children).find(
      (other) => other !== item && (other.dataset[ACTIVITY] || "") < activity
    );
    if (before) {
      if (item.nextElementSibling !== before) {
        this.list.insertBefore(item, before);
      }
    } else if (item.parentNode !== this.list || item !== this.list.lastElementChild) {
      this.list.append(item);
    }
  }

  // The menu button's count: unread messages in the other rooms.
  updateBadge() {
    if (!this.badge) {
      return;
    }
    let total = 0;
    for (const item of this.list.children) {
      if (item.dataset.label !== this.current) {
        total += Number(item.querySelector(".unread").dataset.count) || 0;
      }
    }
    setCount(this.badge, total);
  }
}

// A count's <span>: its number, and a word for screen readers.
function counter(className, word) {
  const span = document.createElement("span");
  span.className = `count ${className}`;
  const number = document.createElement("span");
  number.className = "number";
  const label = document.createElement("span");
  label.className = "visually-hidden";
  label.textContent = ` ${word}`;
  span.append(number, label);
  setCount(span, 0);
  return span;
}

function setCount(span, count) {
  if (!span) {
    return;
  }
  const value = Number(count) || 0;
  span.dataset.count = String(value);
  const number = span.querySelector(".number") || span;
  number.textContent = String(value);
  span.hidden = value === 0;
}
