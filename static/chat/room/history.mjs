// The room's stored messages, from GET /<label>/messages (docs/protocol.md):
// the catch-up after a gap or a (re)connect, the silent-socket check, and
// "Show older messages". The rules of when to do which are the Timeline's
// (keeping-up.mjs); this module does the fetching.

import {ARRIVAL_GRACE_MS, GAP, PAGE_SIZE, retryDelay} from "./keeping-up.mjs";

export class History {
  // `messagesUrl`: the endpoint's path. `timeline`: the page's Timeline.
  // `connection`: the Connection, closed when it has gone silent. `pane`:
  // the Pane older messages go into, each built by `render(message)`.
  // `olderButton`: #older. `status`: the page's Status.
  constructor({messagesUrl, timeline, connection, pane, render, olderButton, status}) {
    this.messagesUrl = messagesUrl;
    this.timeline = timeline;
    this.connection = connection;
    this.pane = pane;
    this.render = render;
    this.olderButton = olderButton;
    this.status = status;
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

  // Fetch every stored message after the last one shown, page by page;
  // then show the live ones held meanwhile. A failed fetch is retried
  // after a while.
  sync() {
    if (this.timeline.catchingUp) {
      return;
    }
    const fetchAfter = (after) =>
      this.fetchPage("after=" + after + "&limit=" + PAGE_SIZE).then((page) => {
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

  // Has the socket silently stopped receiving? If a stored message has not
  // arrived live within the grace period, catch up and rejoin the room.
  check() {
    this.fetchPage("after=" + this.timeline.lastId + "&limit=1").then((page) => {
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

  // "Show older messages": the page before the first message shown.
  showOlder() {
    const first = this.pane.list.querySelector("li[data-id]");
    const query = "limit=" + PAGE_SIZE + (first ? "&before=" + first.dataset.id : "");
    this.fetchPage(query).then((page) => {
      const older = page.messages.filter((message) => this.timeline.showOlder(message));
      this.pane.addOldest(older.map(this.render));
      this.olderButton.hidden = !page.has_more;
    }, () => {
      this.status.showError("Older messages could not be loaded; try again.");
    });
  }
}
