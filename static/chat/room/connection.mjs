// The room's WebSocket (docs/protocol.md): opened to /chat/<label>/,
// reconnected with backoff and full jitter when it drops, kept alive with
// the heartbeat, and closed on the way out of the page. Each frame that
// comes in is handed by its type to one of the handlers the entry module
// gives; what a message frame means for the page is theirs to decide.

import {Backoff, checkPeriod} from "./keeping-up.mjs";

export class Connection {
  // `url`: the socket's ws:// or wss:// address. `pingIntervalMs`: how
  // often to send {"type": "ping"}. `status`: the page's Status. `handlers`:
  // frame type -> function(frame), for "message", "error", "presence",
  // "join", "leave" and "typing" (a missing one ignores its frames).
  // `onOpen()`: the socket has opened (catch up now). `onCheck()`: time for
  // the silent-socket check. `onClose()`: the socket has closed. `onLeave()`:
  // the page is being left, just before the socket closes.
  constructor({url, pingIntervalMs, status, handlers, onOpen, onCheck, onClose, onLeave}) {
    this.url = url;
    this.pingIntervalMs = pingIntervalMs;
    this.status = status;
    this.handlers = handlers;
    this.onOpen = onOpen;
    this.onCheck = onCheck;
    this.onClose = onClose;
    this.onLeave = onLeave;
    this.backoff = new Backoff();
    this.socket = null;
    this.checkTimer = null;
    this.pingTimer = null;
    this.reconnectTimer = null;
    // Set once the server has closed the socket for good (a members-only room).
    this.refused = false;
    // How many sockets have opened so far.
    this.opens = 0;

    // A page left for another may be kept, frozen, for the Back button, and
    // its socket with it: the reader would stay in the roster, and the read
    // mark unwritten, until the browser dropped the page. So the socket is
    // closed on the way out and a new one opened if the page comes back.
    window.addEventListener("pagehide", () => this.leave());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted && !this.socket) {
        this.connect();
      }
    });
  }

  // Whether the page still has a socket (open or not): false once it is left.
  get active() {
    return this.socket !== null;
  }

  // Whether the socket is open, so that send() would send.
  get open() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  // Sends one frame (an object, sent as JSON) if the socket is open;
  // returns whether it did.
  send(frame) {
    if (!this.open) {
      return false;
    }
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // Close the socket so that it reconnects after the backoff.
  reconnect() {
    if (this.socket) {
      this.socket.close();
    }
  }

  connect() {
    this.status.set("Connecting…");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.backoff.reset();
      this.opens += 1;
      this.status.set("Connected");
      this.status.connected();
      document.body.dataset.connected = "true";
      this.checkTimer = window.setInterval(() => this.onCheck(), checkPeriod());
      this.pingTimer = window.setInterval(() => {
        this.send({type: "ping"});
      }, this.pingIntervalMs);
      this.onOpen();
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(event);
  }

  receive(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (data === null || typeof data !== "object") {
      return;
    }
    // Frames from before 2026-11-30 carry no type: an error or a message.
    const type = data.type || ("error" in data ? "error" : "message");
    // "pong", and any type added later, needs nothing unless handled.
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, type)
      ? this.handlers[type] : null;
    if (handler) {
      handler(data);
    }
    if (type === "error") {
      if (data.error === "NOT_JOINED") {
        this.socket.close();
      } else if (data.error === "ROOM_ACCESS_DENIED") {
        this.refused = true;
      }
    }
  }

  closed(event) {
    document.body.dataset.connected = "false";
    window.clearInterval(this.checkTimer);
    window.clearInterval(this.pingTimer);
    this.onClose();
    if (this.refused || event.code === 4003) {
      this.status.set("This room is for signed-in members only.");
      return;
    }
    const wait = this.backoff.next();
    this.status.set("Disconnected; reconnecting in " + Math.ceil(wait / 1000) + " s…");
    this.reconnectTimer = window.setTimeout(() => this.connect(), wait);
  }

  leave() {
    this.onLeave();
    const leaving = this.socket;
    this.socket = null;
    window.clearInterval(this.checkTimer);
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.reconnectTimer);
    if (leaving) {
      leaving.onclose = null;
      leaving.close();
    }
    document.body.dataset.connected = "false";
  }
}
