// The client side of the chat's delivery promise, as rules with no I/O and
// no DOM: docs/protocol.md, "Keeping up: what a client does". A message
// that got an `id` reaches every member, live or through a catch-up over
// GET /<label>/messages; a client shows each one once, in `seq` order.
//
// bench/keeping_up.py holds the same rules in Python for the fault tests'
// clients and the load generator; tests/js/keeping-up.test.mjs proves these.
// The caller owns the socket and the fetches and tells a Timeline what
// came in:
//
//   if (timeline.receive(frame) === GAP) { ...catch up now... }
//   let after = timeline.beginCatchUp();      // also after every (re)connect
//   // for each page of GET ?after=<after>: {messages: [...], has_more}
//   after = timeline.showPage(page.messages);
//   // on the last page:
//   if (timeline.endCatchUp()) { ...catch up once more... }
//   // if a fetch failed instead:
//   timeline.abortCatchUp();                  // held messages stay held
//
// A message is an object of the live shape, {id, seq, timestamp, handle,
// message}; only `id` and `seq` (integers) are read here.

// Reconnection backoff, in ms: doubled after each failure, with full jitter
// (docs/protocol.md, "Keeping up", step 4).
export const MIN_DELAY_MS = 500;
export const MAX_DELAY_MS = 10000;
// How often an open socket checks that it has not silently stopped
// receiving (for instance after the channel layer lost the room's Group), ms.
export const CHECK_EVERY_MS = 30000;
// How long a stored message may take to arrive live before it counts as missed, ms.
export const ARRIVAL_GRACE_MS = 5000;
// How many messages a catch-up asks for at a time (the endpoint allows up to 500).
export const PAGE_SIZE = 100;

// What Timeline.receive did with a message.
export const SHOWN = "shown";  // shown now: it was the next in sequence
export const OLD = "old";  // dropped: its seq was already shown (or its id, twice)
export const HELD = "held";  // held until the catch-up under way (or due) ends
export const GAP = "gap";  // held, and a gap appeared: the caller must start a catch-up now

// What one client has shown of one room, and what it holds back.
//
// `lastId` and `lastSeq` (integers) are those of the newest message shown
// with all its predecessors (0 before any). `shown` holds the ids shown, in
// the order shown; `count` is how many were shown; `duplicates` counts
// messages shown twice by id, which the rules never do unless the server
// sends a stored message again where it may not (it must stay 0).
//
// `pending` holds {arrival, message} pairs: live messages held during a
// catch-up or after a gap. `arrivals` numbers the live messages received
// so far. `catchingUp` is true from beginCatchUp() to endCatchUp() or
// abortCatchUp(); `catchUpDue` from a gap until the caller begins that
// catch-up. While either is true, live messages are held.
export class Timeline {
  // Options, all optional: `onShow(message)`, called once for each message
  // as it is first shown, live or from a page; `lastId` and `lastSeq`, and
  // `shown` (an iterable of ids), for a client that starts from a page
  // that already shows messages.
  constructor({onShow = null, lastId = 0, lastSeq = 0, shown = []} = {}) {
    this.onShow = onShow;
    this.lastId = lastId;
    this.lastSeq = lastSeq;
    this.shown = new Set(shown);
    this.count = 0;
    this.duplicates = 0;
    this.pending = [];
    this.arrivals = 0;
    this.catchingUp = false;
    this.catchUpDue = false;
    // `arrivals` when the current catch-up began.
    this.startedAt = 0;
  }

  // Take one live message. Returns SHOWN, OLD, HELD or GAP; on GAP the
  // caller starts a catch-up (beginCatchUp) as soon as it can.
  receive(message) {
    this.arrivals += 1;
    return this.take(this.arrivals, message);
  }

  take(arrival, message) {
    if (this.catchingUp || this.catchUpDue) {
      this.pending.push({arrival, message});
      return HELD;
    }
    if (message.seq <= this.lastSeq) {
      return OLD;
    }
    if (message.seq === this.lastSeq + 1) {
      return this.append(message) ? SHOWN : OLD;
    }
    // A gap: something was lost on the way. Fetch it, then go on.
    this.pending.push({arrival, message});
    this.catchUpDue = true;
    return GAP;
  }

  // Show `message` as the next in sequence. Returns false when its id was
  // shown already.
  append(message) {
    this.lastId = message.id;
    this.lastSeq = message.seq;
    if (this.shown.has(message.id)) {
      this.duplicates += 1;
      return false;
    }
    this.shown.add(message.id);
    this.count += 1;
    if (this.onShow) {
      this.onShow(message);
    }
    return true;
  }

  // Note one message of a page from before the first shown ("Show older
  // messages"): returns whether it was not shown yet. `lastId` and
  // `lastSeq` do not move, and `onShow` is not called.
  showOlder(message) {
    if (this.shown.has(message.id)) {
      return false;
    }
    this.shown.add(message.id);
    return true;
  }

  // Start a catch-up: from now on live messages are held. Returns the id to
  // fetch `after`. Throws an Error if one is already under way (callers run
  // one at a time).
  beginCatchUp() {
    if (this.catchingUp) {
      throw new Error("A catch-up is already under way");
    }
    this.catchingUp = true;
    this.catchUpDue = false;
    this.startedAt = this.arrivals;
    return this.lastId;
  }

  // Show one fetched page's `messages` (an array, oldest first). Returns
  // the id to fetch the next page `after`. Throws an Error outside a catch-up.
  showPage(messages) {
    if (!this.catchingUp) {
      throw new Error("No catch-up is under way");
    }
    messages.forEach((message) => this.append(message));
    return this.lastId;
  }

  // The catch-up fetched its last page: replay the held messages in `seq`
  // order. One that arrived before the catch-up began and still leaves a
  // gap is shown anyway: it was stored after all its predecessors, so the
  // catch-up saw them, and the gap is a hole in the history itself (a
  // deleted message), not a loss. Any other goes through receive's rules
  // again.
  //
  // Returns true when that revealed another gap: the caller must catch up
  // again (beginCatchUp). Throws an Error outside a catch-up.
  endCatchUp() {
    if (!this.catchingUp) {
      throw new Error("No catch-up is under way");
    }
    this.catchingUp = false;
    const startedAt = this.startedAt;
    const held = this.pending.sort((a, b) => a.message.seq - b.message.seq);
    this.pending = [];
    held.forEach(({arrival, message}) => {
      if (arrival <= startedAt && message.seq > this.lastSeq + 1) {
        this.append(message);
      } else {
        this.take(arrival, message);
      }
    });
    return this.catchUpDue;
  }

  // A fetch of the catch-up failed: stop it. Held messages stay held for
  // the next catch-up; live messages are taken as usual meanwhile (the
  // caller retries after retryDelay()).
  abortCatchUp() {
    this.catchingUp = false;
  }

  // The silent-socket check (docs/protocol.md, "Keeping up", step 3) asks
  // the endpoint for `after=<lastId>&limit=1`. Given that page, returns the
  // id of the stored message the socket should deliver within
  // ARRIVAL_GRACE_MS, or null when nothing is stored beyond what is shown.
  awaited(page) {
    return page.messages.length ? page.messages[0].id : null;
  }

  // Whether the message with id `id`, stored and awaited, has still not
  // been shown: the socket has gone silent; catch up and reconnect.
  missed(id) {
    return !this.shown.has(id);
  }
}

// How long to wait before each reconnection: full jitter over a delay that
// starts at MIN_DELAY_MS and doubles after each failure up to MAX_DELAY_MS,
// so that a room full of clients does not reconnect at once. `random`
// returns a number in [0, 1) (Math.random unless given).
export class Backoff {
  constructor(random = Math.random) {
    this.random = random;
    this.delayMs = MIN_DELAY_MS;
  }

  // The wait before the next attempt, ms; doubles the delay for the one after.
  next() {
    const wait = this.random() * this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, MAX_DELAY_MS);
    return wait;
  }

  // A socket opened: the next failure waits little again.
  reset() {
    this.delayMs = MIN_DELAY_MS;
  }
}

// The period of the silent-socket check, ms: CHECK_EVERY_MS spread by ±25 %
// so that clients that connected together do not check together.
export function checkPeriod(random = Math.random) {
  return CHECK_EVERY_MS * (0.75 + random() / 2);
}

// How long to wait before retrying a catch-up whose fetch failed, ms.
export function retryDelay(random = Math.random) {
  return MIN_DELAY_MS + random() * MAX_DELAY_MS;
}
