// The scrolling pane of messages: whether the reader follows the newest
// (is at the bottom), the count of messages that came while they were
// scrolled up, and the "3 new messages ↓" button that takes them down.

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

    scroller.addEventListener("scroll", () => {
      this.following = this.atBottom();
      if (this.unseen && this.following) {
        this.unseen = 0;
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

  showJump() {
    const unseen = this.unseen;
    this.jumpButton.textContent = unseen + (unseen === 1 ? " new message" : " new messages") + " ↓";
    this.jumpButton.hidden = unseen === 0;
  }

  // Scroll to the newest message and forget the unseen ones: whoever
  // speaks wants to see the answer.
  showNewest() {
    this.scrollToBottom();
    this.unseen = 0;
    this.showJump();
  }

  // Append `item` (an <li>) as the newest message: followed down if the
  // reader was at the bottom, else counted on the jump button.
  addNewest(item) {
    const follow = this.atBottom();
    this.list.appendChild(item);
    if (follow) {
      this.scrollToBottom();
    } else {
      this.unseen += 1;
      this.showJump();
    }
  }

  // Insert `items` (<li>s, oldest first) before the first message, keeping
  // the messages the reader is looking at where they are.
  addOldest(items) {
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    const anchor = this.list.firstChild;
    items.forEach((item) => this.list.insertBefore(item, anchor));
    this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
  }

  // Where the page opens: at the "New messages" line `divider` when there
  // is one, else at the newest message.
  start(divider) {
    if (divider) {
      divider.scrollIntoView({block: "start"});
      this.following = this.atBottom();
    } else {
      this.scrollToBottom();
    }
  }
}
