// The list of messages (#messages) as a whole: each message in its place
// by `seq`, a message replaced when it changes, older ones added on top;
// and, around them, the layout grouping.mjs decides: one header for a run
// of messages from one author (the others get the class "continued"), a
// separator before the first message of each day in the reader's time
// zone, and the "New messages" line before the first unread one. The
// history the server rendered is laid out by the same code when the page
// starts, so old and new messages look alike.

import {continues, dayLabel, localDay} from "./grouping.mjs";
import {showTimes} from "./render.mjs";

// What grouping.mjs reads of a message's <li>.
function factsOf(li) {
  const handle = li.querySelector(".meta .handle");
  const time = li.querySelector(".meta time");
  return {
    handle: handle ? handle.textContent : "",
    guest: li.classList.contains("guest"),
    bot: li.classList.contains("bot"),
    time: time ? Date.parse(time.getAttribute("datetime")) : NaN
  };
}

function isMessage(node) {
  return node !== null && node.classList.contains("message");
}

export class MessageList {
  // `list`: the <ol> #messages. `readSeq`: the seq of the reader's read
  // mark when the page opened (null without one), after which messages
  // are below the "New messages" line. `decorate(li)`: called on each
  // message's <li> once it is in the list (actions.mjs adds its menu).
  constructor({list, readSeq, decorate}) {
    this.list = list;
    this.readSeq = readSeq;
    this.decorate = decorate;
    // The line's place is unknown while every message shown is unread and
    // older ones may be too: it is placed once an older page settles it.
    this.unreadPending = readSeq !== null && !list.querySelector("#unread");
  }

  // The messages' <li>s, oldest first.
  messages() {
    return Array.from(this.list.querySelectorAll("li.message"));
  }

  // The <li> of the message with id `id`, or null.
  find(id) {
    return this.list.querySelector('li.message[data-id="' + Number(id) + '"]');
  }

  // The page opened with the server's rendering: lay it out.
  start() {
    const items = this.messages();
    items.forEach((li) => this.decorate(li));
    items.forEach((li) => this.layOut(li));
    showTimes(this.list);
  }

  // Put `li` (a new message's) in its place by seq: after every message
  // with a lower one. Returns `li`.
  add(li) {
    const seq = Number(li.dataset.seq);
    let before = this.list.lastElementChild;
    while (before && !(isMessage(before) && Number(before.dataset.seq) < seq)) {
      before = before.previousElementSibling;
    }
    if (before === null) {
      this.list.prepend(li);
    } else if (before === this.list.lastElementChild) {
      this.list.append(li);
    } else {
      // Between two messages: before the next one, and before the "New
      // messages" line too if it is read.
      const read = this.readSeq !== null && seq <= this.readSeq;
      let next = before.nextElementSibling;
      while (next && !isMessage(next) && !(read && next.id === "unread")) {
        next = next.nextElementSibling;
      }
      this.list.insertBefore(li, next);
    }
    this.settle(li);
    return li;
  }

  // Show `li` in place of the message's `old` <li>, keeping its highlight.
  replace(old, li) {
    if (old.classList.contains("highlighted")) {
      li.classList.add("highlighted");
    }
    old.replaceWith(li);
    this.settle(li);
  }

  // Insert `items` (<li>s of older messages, oldest first) before the
  // first message shown. `complete` is true when they reach the room's
  // first message.
  addOlder(items, complete) {
    const first = this.list.querySelector("li.message");
    let anchor = first;
    // The separators above the first message are laid out again below.
    while (anchor && anchor.previousElementSibling) {
      anchor = anchor.previousElementSibling;
    }
    items.forEach((li) => {
      this.list.insertBefore(li, anchor);
      this.decorate(li);
    });
    items.forEach((li) => this.layOut(li));
    if (first) {
      this.layOut(first);
    }
    this.placeUnreadLine(complete);
  }

  // A message's <li> has just come into the list: decorate it and lay out
  // it and the message after it.
  settle(li) {
    this.decorate(li);
    this.layOut(li);
    let next = li.nextElementSibling;
    while (next && !isMessage(next)) {
      next = next.nextElementSibling;
    }
    if (next) {
      this.layOut(next);
    }
  }

  // Lay out `li` against the message before it: the day separator, and
  // whether it continues that message's group.
  layOut(li) {
    let previous = li.previousElementSibling;
    let lineBetween = false;
    while (previous && !isMessage(previous)) {
      const node = previous;
      previous = previous.previousElementSibling;
      if (node.classList.contains("day")) {
        node.remove();
      } else if (node.id === "unread") {
        lineBetween = true;
      }
    }
    const facts = factsOf(li);
    const before = previous ? factsOf(previous) : null;
    if (!before || localDay(before.time) !== localDay(facts.time)) {
      const day = document.createElement("li");
      day.className = "day";
      day.setAttribute("role", "separator");
      const label = Number.isFinite(facts.time) ? dayLabel(facts.time) : "";
      day.setAttribute("aria-label", label);
      const text = document.createElement("span");
      text.textContent = label;
      day.append(text);
      if (previous) {
        previous.after(day);
      } else {
        this.list.prepend(day);
      }
    }
    li.classList.toggle("continued", !lineBetween && continues(before, facts));
  }

  // Once older messages are loaded, the "New messages" line goes before
  // the first unread one if its place is now known: a read message is
  // shown before it, or the room's first message is (`complete`).
  placeUnreadLine(complete) {
    if (!this.unreadPending) {
      return;
    }
    const items = this.messages();
    const firstUnread = items.find((li) => Number(li.dataset.seq) > this.readSeq);
    if (!firstUnread || (firstUnread === items[0] && !complete)) {
      return;
    }
    this.unreadPending = false;
    const line = document.createElement("li");
    line.id = "unread";
    line.className = "divider";
    line.setAttribute("role", "separator");
    const text = document.createElement("span");
    text.textContent = "New messages";
    line.append(text);
    // After the day separator, if the day starts there.
    const before = firstUnread.previousElementSibling;
    if (before && before.classList.contains("day")) {
      before.after(line);
    } else {
      firstUnread.before(line);
    }
    this.layOut(firstUnread);
  }
}
