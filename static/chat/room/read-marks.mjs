// Read marks, for a signed-in reader only: {"type": "read", "seq": n}
// (docs/protocol.md) once the newest message shown is on screen, at most
// once every READ_INTERVAL_MS, and at once when the tab is hidden or left.

export class ReadMarks {
  // `identityKind`: "user", "guest" or "" (only "user" sends marks).
  // `readSeq`: the seq the server has as read (0 for none). `intervalMs`:
  // the least time between two marks. `list` and `scroller`: the messages'
  // <ol> and its scrolling pane. `timeline`: the Timeline, whose `lastSeq`
  // is what has been shown. `send(frame)`: sends a frame, returns whether
  // it did.
  constructor({identityKind, readSeq, intervalMs, list, scroller, timeline, send}) {
    this.identityKind = identityKind;
    this.readSent = readSeq;
    this.readSentAt = -Infinity;
    this.intervalMs = intervalMs;
    this.list = list;
    this.scroller = scroller;
    this.timeline = timeline;
    this.sendFrame = send;
    this.timer = null;

    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") {
        this.send(true);
      } else {
        this.soon();
      }
    });
  }

  // Is the newest message shown at least partly inside the pane?
  newestOnScreen() {
    const newest = this.list.lastElementChild;
    if (!newest) {
      return false;
    }
    const item = newest.getBoundingClientRect();
    const pane = this.scroller.getBoundingClientRect();
    return item.top < pane.bottom && item.bottom > pane.top;
  }

  // Send the mark when the reader has seen further than last time, at most
  // once every `intervalMs` (unless `now`).
  send(now) {
    const lastSeq = this.timeline.lastSeq;
    if (this.identityKind !== "user" || lastSeq <= this.readSent || !this.newestOnScreen()) {
      return;
    }
    const wait = this.readSentAt + this.intervalMs - Date.now();
    if (!now && wait > 0) {
      if (!this.timer) {
        this.timer = window.setTimeout(() => {
          this.timer = null;
          this.soon();
        }, wait);
      }
      return;
    }
    if (this.sendFrame({type: "read", seq: lastSeq})) {
      this.readSent = lastSeq;
      this.readSentAt = Date.now();
    }
  }

  // Something may have come into view: send the mark if the tab is visible.
  soon() {
    if (document.visibilityState === "visible") {
      this.send(false);
    }
  }
}
