// The scrolling pane of messages: whether the reader follows the newest
// (is at the bottom), the count of messages that came while they were
// scrolled up, and the "3 new messages ↓" button that takes them down;
// where the page opens (at a permalink's message, at the "New messages"
// line, or at the newest), and keeping the reader's place when messages
// are added above or change.

// How close to the bottom of the pane still counts as reading the newest, px.
const BOTTOM_SLACK_PX = 48;

export class Pane {
  // `scroller`: the scrolling element (#scroller); `list`: the messages'
  // <ol> inside it; `jumpButton`: #jump. `onScroll()` is called after every
  // scroll, `onJump()` after the jump button took the reader down.
  constructor({scroller, list, jumpButton, onScroll, onJump}) {
    this.scroller = scroller;
    this.list = list;
    this.jumpButton = jumpButton;
    // Messages appended while the reader was scrolled up, not yet seen.
    this.unseen = 0;
    // Whether the reader is following the newest messages (at the bottom).
    this.following = true;
    // Whether the page opened away from the newest messages (at a
    // permalink, or at the first of many unread), until the reader gets
    // there: what comes in below is not news then, and the jump button
    // offers the newest.
    this.detached = false;

    scroller.addEventListener("scroll", () => {
      this.following = this.atBottom();
      if ((this.unseen || this.detached) && this.following) {
        this.unseen = 0;
        this.detached = false;
        this.showJump();
      }
      onScroll();
    }, {passive: true});

    // A pane that shrinks (a rotated phone, a growing composer) keeps a
    // reader who was following at the newest message.
    new ResizeObserver(() => {
      if (this.following) {
        this.scrollToBottom();
      }
    }).observe(scroller);

    jumpButton.addEventListener("click", () => {
      this.showNewest();
      onJump();
    });
  }

  atBottom() {
    const scroller = this.scroller;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.following = true;
  }

  // Whether the reader is within a screen of the top, where older
  // messages are loaded.
  nearTop() {
    return this.scroller.scrollTop < this.scroller.clientHeight;
  }

  showJump() {
    const unseen = this.unseen;
    if (this.detached) {
      this.jumpButton.textContent = "Newest messages ↓";
      this.jumpButton.hidden = false;
      return;
    }
    this.jumpButton.textContent = unseen + (unseen === 1 ? " new message" : " new messages") + " ↓";
    this.jumpButton.hidden = unseen === 0;
  }

  // Scroll to the newest message and forget the unseen ones: whoever
  // speaks wants to see the answer.
  showNewest() {
    this.detached = false;
    this.scrollToBottom();
    this.unseen = 0;
    this.showJump();
  }

  // `place()` adds a new message to the list: followed down if the reader
  // was at the bottom, else counted on the jump button.
  addNewest(place) {
    const follow = !this.detached && this.atBottom();
    place();
    if (follow) {
      this.scrollToBottom();
    } else if (!this.detached) {
      this.unseen += 1;
      this.showJump();
    }
  }

  // `place()` changes what is shown (a message replaced): a reader at the
  // bottom stays there; anyone else keeps what they look at where it is
  // (the browser's scroll anchoring).
  keep(place) {
    const follow = !this.detached && this.atBottom();
    place();
    if (follow) {
      this.scrollToBottom();
    }
  }

  // `place()` inserts older messages above the first: the messages the
  // reader is looking at stay where they are.
  addOldest(place) {
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    place();
    this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
  }

  // Where the page opens: at `highlighted` (the <li> of a permalink's
  // message) when there is one, else at the "New messages" line `divider`
  // when there is one, else at the newest message. `detached`: newer
  // messages than those shown are still to come.
  start(highlighted, divider, detached) {
    this.detached = detached;
    if (highlighted) {
      highlighted.scrollIntoView({block: "center"});
    } else if (divider) {
      divider.scrollIntoView({block: "start"});
    } else {
      this.scrollToBottom();
    }
    this.following = !detached && this.atBottom();
    this.showJump();
  }
}
