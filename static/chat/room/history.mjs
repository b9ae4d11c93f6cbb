// The room's stored messages, from GET /<label>/messages (docs/protocol.md):
// the catch-up after a gap or a (re)connect, the silent-socket check, and
// older messages, loaded as the reader scrolls near the top or asks with
// "Show older messages". The rules of when to do which are the Timeline's
// (keeping-up.mjs); this module does the fetching.

import {ARRIVAL_GRACE_MS, GAP, PAGE_SIZE, retryDelay} from "./keeping-up.mjs";

// How many older messages each step back loads.
export const OLDER_PAGE_SIZE = 50;

export class History {
  // `messagesUrl`: the endpoint's path. `timeline`: the page's Timeline.
  // `connection`: the Connection, closed when it has gone silent. `pane`:
  // the Pane, and `messageList` the MessageList, older messages go into,
  // each built by `render(message)`. `olderButton`: #older; `roomStart`:
  // #room-start, shown once the room's first message is. `status`: the
  // page's Status.
  constructor({messagesUrl, timeline, connection, pane, messageList, render, olderButton,
    roomStart, status}) {
    this.messagesUrl = messagesUrl;
    this.timeline = timeline;
    this.connection = connection;
    this.pane = pane;
    this.messageList = messageList;
    this.render = render;
    this.olderButton = olderButton;
    this.roomStart = roomStart;
    this.status = status;
    this.loadingOlder = false;
    olderButton.addEventListener("click", () => this.showOlder());
  }

  // One page of the endpoint, for `query` (a query string): resolves to
  // {messages, has_more}; rejects when the answer is not a 2xx.
  fetchPage(query) {
    return window.fetch(this.messagesUrl + "?" + query, {headers: {Accept: "application/json"}})
      .then((response) => {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      });
  }

  // A live message frame: shown, dropped, held, or the start of a catch-up.
  receive(message) {
    if (this.timeline.receive(message) === GAP) {
      this.sync();
    }
  }

  // Fetch every message posted or changed after the last event taken,
  // page by page; then take the live events held meanwhile. A failed fetch is retried
  // after a while.
  sync() {
    if (this.timeline.catchingUp) {
      return;
    }
    const fetchAfter = (after) =>
      this.fetchPage("after_seq=" + after + "&limit=" + PAGE_SIZE).then((page) => {
        const next = this.timeline.showPage(page.messages);
        if (page.has_more) {
          return fetchAfter(next);
        }
      });
    fetchAfter(this.timeline.beginCatchUp()).then(() => {
      if (this.timeline.endCatchUp()) {
        this.sync();
      }
    }, () => {
      this.timeline.abortCatchUp();
      window.setTimeout(() => this.sync(), retryDelay());
    });
  }

  // Has the socket silently stopped receiving? If a stored event has not
  // arrived live within the grace period, catch up and rejoin the room.
  check() {
    this.fetchPage("after_seq=" + this.timeline.lastSeq + "&limit=1").then((page) => {
      const awaited = this.timeline.awaited(page);
      if (awaited === null) {
        return;
      }
      window.setTimeout(() => {
        if (this.timeline.missed(awaited) && this.connection.active) {
          this.sync();
          this.connection.reconnect();
        }
      }, ARRIVAL_GRACE_MS);
    }, () => {});
  }

  // Whether the room has messages before the first one shown.
  get hasOlder() {
    return !this.olderButton.hidden;
  }

  // The reader is near the top (or the pane is not full): load older
  // messages, unless they are loading or the room's first is shown.
  maybeShowOlder() {
    if (this.hasOlder && !this.loadingOlder && this.pane.nearTop()) {
      this.showOlder();
    }
  }

  // The page of OLDER_PAGE_SIZE messages before the first one shown,
  // added above it; the reader's place stays where it is.
  showOlder() {
    if (this.loadingOlder) {
      return;
    }
    this.loadingOlder = true;
    const first = this.messageList.list.querySelector("li.message");
    const query = "limit=" + OLDER_PAGE_SIZE + (first ? "&before=" + first.dataset.id : "");
    this.fetchPage(query).then((page) => {
      const older = page.messages.map((message) => this.timeline.showOlder(message))
        .filter((message) => message !== null);
      this.pane.addOldest(() => {
        this.messageList.addOlder(older.map(this.render), !page.has_more);
        this.olderButton.hidden = !page.has_more;
        this.roomStart.hidden = page.has_more;
      });
      this.loadingOlder = false;
      // Still near the top (a short page, a tall screen): on to the next.
      window.requestAnimationFrame(() => this.maybeShowOlder());
    }, () => {
      this.loadingOlder = false;
      this.status.showError("Older messages could not be loaded; try again.");
    });
  }
}
