// The client side of the chat's delivery promise, as rules with no I/O and
// no DOM: docs/protocol.md, "Keeping up: what a client does". A room's
// `seq` numbers its events: each new message, and (since 2026-12-05) each
// change to one, an edit, a delete or a reaction (docs/conversations.md).
// Every event reaches every member, live or through a catch-up over
// GET /<label>/messages?after_seq=<n>; a client takes them in `seq` order,
// shows each message once, and replaces what it shows of a message when a
// change to it comes.
//
// bench/keeping_up.py holds the same rules for new messages in Python for
// the fault tests' clients and the load generator;
// tests/js/keeping-up.test.mjs proves these. The caller owns the socket
// and the fetches and tells a Timeline what came in:
//
//   if (timeline.receive(frame) === GAP) { ...catch up now... }
//   let after = timeline.beginCatchUp();      // also after every (re)connect
//   // for each page of GET ?after_seq=<after>: {messages: [...], has_more}
//   after = timeline.showPage(page.messages);
//   // on the last page:
//   if (timeline.endCatchUp()) { ...catch up once more... }
//   // if a fetch failed instead:
//   timeline.abortCatchUp();                  // held events stay held
//
// A frame is a message frame, {type: "message", id, seq, ...}, whose `seq`
// is its event, or a change frame, {type: "change", change, seq, object},
// whose `object` is the message it changed in its current state. A message
// is an object of the live shape; only `id`, `seq` and `version` (integers;
// `version`, the seq of the last event that touched it, is absent while it
// equals `seq`) are read here.

// Reconnection backoff, in ms: doubled after each failure, with full jitter
// (docs/protocol.md, "Keeping up", step 4).
export const MIN_DELAY_MS = 500;
export const MAX_DELAY_MS = 10000;
// How often an open socket checks that it has not silently stopped
// receiving (for instance after the channel layer lost the room's Group), ms.
export const CHECK_EVERY_MS = 30000;
// How long a stored event may take to arrive live before it counts as missed, ms.
export const ARRIVAL_GRACE_MS = 5000;
// How many messages a catch-up asks for at a time (the endpoint allows up to 500).
export const PAGE_SIZE = 100;

// What Timeline.receive did with an event.
export const SHOWN = "shown";  // taken now: it was the next in sequence
export const OLD = "old";  // dropped: its seq was already taken
export const HELD = "held";  // held until the catch-up under way (or due) ends
export const GAP = "gap";  // held, and a gap appeared: the caller must start a catch-up now

// The seq of the last event that touched `message`: its `version`, or its
// own `seq` while it never changed.
export function versionOf(message) {
  return Number.isInteger(message.version) ? message.version : message.seq;
}

// The message an event carries, in its state after the event, and the
// kind of change ("edit", "delete", "react"; null for a new message).
function eventOf(frame) {
  if (frame.type === "change") {
    const object = frame.object;
    const valid = object !== null && typeof object === "object" && Number.isInteger(object.id);
    return {message: valid ? object : null, change: frame.change};
  }
  return {message: frame, change: null};
}

// What one client has shown of one room, and what it holds back.
//
// `lastSeq` (an integer) is the seq of the newest event taken with all its
// predecessors (0 before any). `firstSeq` is the seq of the oldest message
// loaded (0 while there is none, or none older to load): a message older
// than that is not on the page, so a change to it updates nothing visible.
// `shown` maps the id of each message shown, in the order first shown, to
// the version shown; `count` is how many were shown; `duplicates` counts
// new messages (never changed) that came again in sequence, which the
// rules never do unless the server sends a stored message again where it
// may not (it must stay 0). `offPage` maps the id of a message older than
// the page to its newest state received, for when older messages are
// loaded.
//
// `pending` holds {arrival, frame} pairs: live events held during a
// catch-up or after a gap. `arrivals` numbers the live events received
// so far. `catchingUp` is true from beginCatchUp() to endCatchUp() or
// abortCatchUp(); `catchUpDue` from a gap until the caller begins that
// catch-up. While either is true, live events are held.
export class Timeline {
  // Options, all optional: `onShow(message)`, called once for each message
  // as it is first shown, live or from a page (its place on the page is
  // its `seq`, which a catch-up may bring after later ones: a message
  // posted, then changed, while the client was away comes at its
  // version); `onChange(message, change)`, called when a shown message
  // changes, with its new state and the kind of change ("edit", "delete",
  // "react"; null when a catch-up brought it). For a client that starts
  // from a page that already shows messages: `lastSeq`; `firstSeq`; and
  // `shown`, an iterable of [id, version] pairs.
  constructor({onShow = null, onChange = null, lastSeq = 0, firstSeq = 0, shown = []} = {}) {
    this.onShow = onShow;
    this.onChange = onChange;
    this.lastSeq = lastSeq;
    this.firstSeq = firstSeq;
    this.shown = new Map(shown);
    this.offPage = new Map();
    this.count = 0;
    this.duplicates = 0;
    this.pending = [];
    this.arrivals = 0;
    this.catchingUp = false;
    this.catchUpDue = false;
    // `arrivals` when the current catch-up began.
    this.startedAt = 0;
  }

  // Take one live frame, a message or a change. Returns SHOWN, OLD, HELD
  // or GAP; on GAP the caller starts a catch-up (beginCatchUp) as soon as
  // it can.
  receive(frame) {
    this.arrivals += 1;
    return this.take(this.arrivals, frame);
  }

  take(arrival, frame) {
    if (this.catchingUp || this.catchUpDue) {
      this.pending.push({arrival, frame});
      return HELD;
    }
    if (frame.seq <= this.lastSeq) {
      return OLD;
    }
    if (frame.seq === this.lastSeq + 1) {
      this.apply(frame);
      return SHOWN;
    }
    // A gap: something was lost on the way. Fetch it, then go on.
    this.pending.push({arrival, frame});
    this.catchUpDue = true;
    return GAP;
  }

  // Take the event `frame` as the next in sequence.
  apply(frame) {
    this.lastSeq = frame.seq;
    const {message, change} = eventOf(frame);
    if (message !== null) {
      this.place(message, change);
    }
  }

  // Show `message` in its state now, whichever way it came (`change` as
  // for onChange). Returns whether the page changed.
  place(message, change) {
    const version = versionOf(message);
    if (this.shown.has(message.id)) {
      if (version <= this.shown.get(message.id)) {
        if (version === message.seq) {
          this.duplicates += 1;
        }
        return false;
      }
      this.shown.set(message.id, version);
      if (this.onChange) {
        this.onChange(message, change);
      }
      return true;
    }
    if (message.seq < this.firstSeq) {
      // Older than the page: nothing to show, but remembered in case it is loaded.
      const known = this.offPage.get(message.id);
      if (!known || versionOf(known) < version) {
        this.offPage.set(message.id, message);
      }
      return false;
    }
    this.shown.set(message.id, version);
    this.count += 1;
    if (this.onShow) {
      this.onShow(message);
    }
    return true;
  }

  // Note one message of a page from before the first shown (older
  // messages, loaded by scrolling back or from "Show older messages").
  // Returns the state to show it in: `message`, or a newer one a change
  // brought meanwhile; or null when it is shown already. `lastSeq` does not
  // move and `onShow` is not called; `firstSeq` becomes its seq when older.
  showOlder(message) {
    if (this.firstSeq === 0 || message.seq < this.firstSeq) {
      this.firstSeq = message.seq;
    }
    if (this.shown.has(message.id)) {
      return null;
    }
    let state = message;
    const known = this.offPage.get(message.id);
    if (known) {
      this.offPage.delete(message.id);
      if (versionOf(known) > versionOf(message)) {
        state = known;
      }
    }
    this.shown.set(message.id, versionOf(state));
    return state;
  }

  // Start a catch-up: from now on live events are held. Returns the seq to
  // fetch messages `after_seq`. Throws an Error if one is already under
  // way (callers run one at a time).
  beginCatchUp() {
    if (this.catchingUp) {
      throw new Error("A catch-up is already under way");
    }
    this.catchingUp = true;
    this.catchUpDue = false;
    this.startedAt = this.arrivals;
    return this.lastSeq;
  }

  // Show one fetched page's `messages` (an array, in the order of their
  // versions: each is the state after the events up to its version).
  // Returns the seq to fetch the next page `after_seq`. Throws an Error
  // outside a catch-up.
  showPage(messages) {
    if (!this.catchingUp) {
      throw new Error("No catch-up is under way");
    }
    messages.forEach((message) => {
      // Events between the last one taken and this version that no page
      // brings touched a message again later: superseded, not lost.
      this.lastSeq = Math.max(this.lastSeq, versionOf(message));
      this.place(message, null);
    });
    return this.lastSeq;
  }

  // The catch-up fetched its last page: replay the held events in `seq`
  // order. One that arrived before the catch-up began and still leaves a
  // gap is taken anyway: it was stored after all its predecessors, so the
  // catch-up saw them, and the gap is a hole in the history itself (a
  // message pruned, or an event superseded by a later one), not a loss.
  // Any other goes through receive's rules again.
  //
  // Returns true when that revealed another gap: the caller must catch up
  // again (beginCatchUp). Throws an Error outside a catch-up.
  endCatchUp() {
    if (!this.catchingUp) {
      throw new Error("No catch-up is under way");
    }
    this.catchingUp = false;
    const startedAt = this.startedAt;
    const held = this.pending.sort((a, b) => a.frame.seq - b.frame.seq);
    this.pending = [];
    held.forEach(({arrival, frame}) => {
      if (arrival <= startedAt && frame.seq > this.lastSeq + 1) {
        this.apply(frame);
      } else {
        this.take(arrival, frame);
      }
    });
    return this.catchUpDue;
  }

  // A fetch of the catch-up failed: stop it. Held events stay held for
  // the next catch-up; live events are taken as usual meanwhile (the
  // caller retries after retryDelay()).
  abortCatchUp() {
    this.catchingUp = false;
  }

  // The silent-socket check (docs/protocol.md, "Keeping up", step 3) asks
  // the endpoint for `after_seq=<lastSeq>&limit=1`. Given that page,
  // returns the seq of the stored event the socket should deliver within
  // ARRIVAL_GRACE_MS, or null when nothing is stored beyond what was taken.
  awaited(page) {
    return page.messages.length ? versionOf(page.messages[0]) : null;
  }

  // Whether the event `seq`, stored and awaited, has still not been
  // taken: the socket has gone silent; catch up and reconnect.
  missed(seq) {
    return this.lastSeq < seq;
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
