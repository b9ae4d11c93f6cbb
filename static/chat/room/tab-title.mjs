// The tab's title while the page is hidden: how many messages have come
// since, before the room's own title, "(3) lobby · Chat", as the tab strip
// shows it; the plain title again once the tab is visible and the
// messages are seen.

// The title `title` (a string) with `unread` (a count) before it, or as
// it is when there is nothing unread.
export function titleWithUnread(title, unread) {
  return unread > 0 ? "(" + unread + ") " + title : title;
}

export class TabTitle {
  // `doc`: the document (its `title`, `visibilityState` and
  // visibilitychange events). `isSeen()`: whether the reader, on a visible
  // page, sees the newest message (the pane follows it).
  constructor({doc, isSeen}) {
    this.doc = doc;
    this.isSeen = isSeen;
    this.title = doc.title;
    this.unread = 0;
    doc.addEventListener("visibilitychange", () => this.seen());
  }

  get hidden() {
    return this.doc.visibilityState === "hidden";
  }

  // A message from someone else has been shown: counted while the tab is
  // hidden.
  arrived() {
    if (this.hidden) {
      this.unread += 1;
      this.show();
    }
  }

  // The reader may have seen the newest messages (the tab came back, or
  // the pane was scrolled): the count goes once they have.
  seen() {
    if (this.unread && !this.hidden && this.isSeen()) {
      this.unread = 0;
      this.show();
    }
  }

  show() {
    this.doc.title = titleWithUnread(this.title, this.unread);
  }
}
