// The page's keeping-up rules (docs/protocol.md, "Keeping up"), imported
// as the server serves them, from static/chat/room/keeping-up.mjs. They
// cover what tests/test_keeping_up.py covers for bench/keeping_up.py, the
// Python copy of the same rules, and the reconnection and silent-socket
// rules the page alone has. Run by tests/test_js.py, or `node --test tests/js/`.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {
  ARRIVAL_GRACE_MS,
  Backoff,
  CHECK_EVERY_MS,
  GAP,
  HELD,
  MAX_DELAY_MS,
  MIN_DELAY_MS,
  OLD,
  SHOWN,
  Timeline,
  checkPeriod,
  retryDelay,
  versionOf
} from "../../static/chat/room/keeping-up.mjs";

// A message of the live shape; its id is 100 + seq unless given.
function message(seq, id = 100 + seq) {
  return {
    id,
    seq,
    timestamp: "2017-05-01T14:00:00.000000Z",
    handle: "ann",
    message: "text " + seq
  };
}

function ids(...seqs) {
  return seqs.map((seq) => 100 + seq);
}

function shown(timeline) {
  return Array.from(timeline.shown.keys());
}

function heldSeqs(timeline) {
  return timeline.pending.map(({frame}) => frame.seq);
}

// `message` as a change left it: its version, and its text (an edit).
function edited(original, version, text = "edited at " + version) {
  return {...original, version, edited: "2017-05-01T14:05:00.000000Z", message: text};
}

// `message` deleted in event `version`: a tombstone.
function deleted(original, version) {
  return {
    id: original.id, seq: original.seq, version, timestamp: original.timestamp,
    handle: original.handle, deleted: true, message: ""
  };
}

// A change frame: the event `seq` of kind `kind` left `object` so.
function change(kind, seq, object) {
  return {type: "change", change: kind, seq, object};
}

// A source of "random" numbers that returns `values` in turn.
function sequence(...values) {
  let next = 0;
  return () => values[next++];
}

describe("live messages", () => {
  test("a message one past the last is shown at once", () => {
    const timeline = new Timeline();
    assert.deepEqual([1, 2, 3].map((seq) => timeline.receive(message(seq))), [SHOWN, SHOWN, SHOWN]);
    assert.deepEqual(shown(timeline), ids(1, 2, 3));
    assert.equal(timeline.lastSeq, 3);
    assert.equal(timeline.pending.length, 0);
    assert.equal(timeline.catchUpDue, false);
  });

  test("a timeline can start from messages a page already showed", () => {
    const timeline = new Timeline({lastSeq: 7, firstSeq: 6, shown: [[106, 6], [107, 7]]});
    assert.equal(timeline.receive(message(7)), OLD);
    assert.equal(timeline.receive(message(8)), SHOWN);
    assert.deepEqual(shown(timeline), ids(6, 7, 8));
    assert.equal(timeline.count, 1);
  });

  test("a duplicate, at or below the last seq, is dropped as old", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.receive(message(2));
    assert.equal(timeline.receive(message(2)), OLD);
    assert.equal(timeline.receive(message(1)), OLD);
    assert.deepEqual(shown(timeline), ids(1, 2));
    assert.equal(timeline.duplicates, 0);
  });

  test("a gap holds the message and asks for a catch-up", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(message(3)), GAP);
    assert.deepEqual(shown(timeline), ids(1));
    assert.deepEqual(heldSeqs(timeline), [3]);
    assert.equal(timeline.catchUpDue, true);
    // Until that catch-up ends, even the missing message itself waits.
    assert.equal(timeline.receive(message(2)), HELD);
    assert.deepEqual(shown(timeline), ids(1));
  });

  test("onShow is called once per message as it is first shown", () => {
    const seen = [];
    const timeline = new Timeline({onShow: (m) => seen.push(m.seq)});
    timeline.receive(message(1));
    timeline.receive(message(3));
    timeline.receive(message(1));
    assert.deepEqual(seen, [1]);
    timeline.beginCatchUp();
    timeline.showPage([message(1, 101), message(2)]);
    timeline.endCatchUp();
    assert.deepEqual(seen, [1, 2, 3]);
  });
});

describe("catching up", () => {
  test("a catch-up starts after the last event taken", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.receive(message(3));
    assert.equal(timeline.beginCatchUp(), 1);
    assert.equal(timeline.catchingUp, true);
    assert.equal(timeline.catchUpDue, false);
  });

  test("the catch-up fills the gap, then replays held messages in seq order", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(message(4)), GAP);
    timeline.beginCatchUp();
    // Arrived during the catch-up, out of order.
    assert.equal(timeline.receive(message(6)), HELD);
    assert.equal(timeline.receive(message(5)), HELD);
    assert.equal(timeline.showPage([message(2), message(3)]), 3);
    assert.deepEqual(shown(timeline), ids(1, 2, 3));

    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3, 4, 5, 6));
    assert.equal(timeline.lastSeq, 6);
    assert.equal(timeline.pending.length, 0);
    assert.equal(timeline.catchingUp, false);
  });

  test("pages are fetched each after the last event of the one before", () => {
    const timeline = new Timeline();
    assert.equal(timeline.beginCatchUp(), 0);
    assert.equal(timeline.showPage([message(1), message(2)]), 2);
    assert.equal(timeline.showPage([message(3)]), 3);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3));
  });

  test("live messages arriving during a catch-up are held", () => {
    const timeline = new Timeline();
    timeline.beginCatchUp();
    assert.equal(timeline.receive(message(1)), HELD);
    assert.equal(timeline.receive(message(2)), HELD);
    assert.deepEqual(shown(timeline), []);
    timeline.showPage([]);
    timeline.endCatchUp();
    assert.deepEqual(shown(timeline), ids(1, 2));
  });

  test("a message that arrived before the catch-up across a hole in history is shown", () => {
    // Message 2 was pruned: no catch-up will ever bring it.
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(message(3)), GAP);
    timeline.beginCatchUp();
    timeline.showPage([]);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 3));
    assert.deepEqual([timeline.lastSeq, timeline.catchUpDue], [3, false]);
    assert.equal(timeline.receive(message(4)), SHOWN);
  });

  test("a message that arrived during the catch-up and still leaves a gap asks for another", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.beginCatchUp();
    // Stored after the catch-up's fetch, so message 2 may be stored yet unseen.
    assert.equal(timeline.receive(message(3)), HELD);
    timeline.showPage([]);
    assert.equal(timeline.endCatchUp(), true);
    assert.deepEqual(shown(timeline), ids(1));
    assert.equal(timeline.catchUpDue, true);
    assert.deepEqual(heldSeqs(timeline), [3]);

    assert.equal(timeline.beginCatchUp(), 1);
    timeline.showPage([message(2)]);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3));
  });

  test("the arrival rule counts arrivals up to the start of the catch-up itself", () => {
    // The gap was seen at the second arrival; the third came before the
    // fetch began: both were stored before it, so both count as before.
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(message(3)), GAP);
    assert.equal(timeline.receive(message(5)), HELD);
    timeline.beginCatchUp();
    assert.equal(timeline.receive(message(7)), HELD);
    timeline.showPage([]);
    assert.equal(timeline.endCatchUp(), true);
    assert.deepEqual(shown(timeline), ids(1, 3, 5));
    assert.deepEqual(heldSeqs(timeline), [7]);
  });

  test("a message shown both live and in a page counts once", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(message(3)), GAP);
    timeline.beginCatchUp();
    assert.equal(timeline.receive(message(4)), HELD);
    timeline.showPage([message(2), message(3), message(4)]);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3, 4));
    assert.equal(timeline.count, 4);
    assert.equal(timeline.duplicates, 0);
  });

  test("a page that repeats a shown message counts a duplicate and shows it once", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.beginCatchUp();
    timeline.showPage([message(1), message(2)]);
    timeline.endCatchUp();
    assert.deepEqual(shown(timeline), ids(1, 2));
    assert.equal(timeline.duplicates, 1);
  });

  test("a failed catch-up keeps the held messages for the next", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.receive(message(3));
    timeline.beginCatchUp();
    timeline.receive(message(4));
    timeline.abortCatchUp();
    assert.equal(timeline.catchingUp, false);
    assert.deepEqual(heldSeqs(timeline), [3, 4]);
    assert.deepEqual(shown(timeline), ids(1));

    assert.equal(timeline.beginCatchUp(), 1);
    timeline.showPage([message(2)]);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3, 4));
  });

  test("only one catch-up runs at a time", () => {
    const timeline = new Timeline();
    timeline.beginCatchUp();
    assert.throws(() => timeline.beginCatchUp(), /already under way/);
    timeline.endCatchUp();
    assert.throws(() => timeline.endCatchUp(), /No catch-up/);
    assert.throws(() => timeline.showPage([message(1)]), /No catch-up/);
  });
});

describe("changes", () => {
  test("a change one past the last replaces what is shown of its message", () => {
    const changes = [];
    const timeline = new Timeline({onChange: (m, kind) => changes.push([m.id, m.message, kind])});
    timeline.receive(message(1));
    timeline.receive(message(2));
    assert.equal(timeline.receive(change("edit", 3, edited(message(1), 3, "fixed"))), SHOWN);
    assert.deepEqual(changes, [[101, "fixed", "edit"]]);
    assert.equal(timeline.lastSeq, 3);
    assert.deepEqual(shown(timeline), ids(1, 2));
    assert.equal(timeline.shown.get(101), 3);
    assert.equal(timeline.count, 2);
  });

  test("a delete and a reaction are changes like an edit", () => {
    const changes = [];
    const timeline = new Timeline({onChange: (m, kind) => changes.push([kind, m.deleted === true])});
    timeline.receive(message(1));
    timeline.receive(message(2));
    const reacted = {...message(2), version: 3, reactions: [{emoji: "👍", count: 1, handles: ["bo"]}]};
    assert.equal(timeline.receive(change("react", 3, reacted)), SHOWN);
    assert.equal(timeline.receive(change("delete", 4, deleted(message(1), 4))), SHOWN);
    assert.deepEqual(changes, [["react", false], ["delete", true]]);
    assert.equal(timeline.lastSeq, 4);
  });

  test("a change counts in gap detection by its seq", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.receive(change("edit", 3, edited(message(1), 3))), GAP);
    assert.deepEqual(heldSeqs(timeline), [3]);
    assert.equal(timeline.receive(message(4)), HELD);
    assert.equal(timeline.beginCatchUp(), 1);
    // Event 2 was message 2; event 3 edited message 1: the page, by version.
    assert.equal(timeline.showPage([message(2), edited(message(1), 3)]), 3);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 4));
    assert.equal(timeline.lastSeq, 4);
  });

  test("events superseded by a later change are a hole, not a loss", () => {
    const texts = [];
    const timeline = new Timeline({onChange: (m) => texts.push(m.message)});
    timeline.receive(message(1));
    // Events 2, 3 and 4 edited message 1 three times; only the last arrived.
    assert.equal(timeline.receive(change("edit", 4, edited(message(1), 4, "third"))), GAP);
    timeline.beginCatchUp();
    // The catch-up has message 1 once, in its state after event 4.
    assert.equal(timeline.showPage([edited(message(1), 4, "third")]), 4);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(texts, ["third"]);
    assert.equal(timeline.catchUpDue, false);
    assert.equal(timeline.receive(message(5)), SHOWN);
  });

  test("a message posted and changed while away is shown from the catch-up, at its own seq", () => {
    const placed = [];
    const timeline = new Timeline({onShow: (m) => placed.push([m.seq, m.message])});
    timeline.receive(message(1));
    timeline.beginCatchUp();
    // Message 2, then message 3, then an edit of message 2 (event 4): by version.
    timeline.showPage([message(3), edited(message(2), 4, "fixed")]);
    timeline.endCatchUp();
    assert.deepEqual(placed, [[1, "text 1"], [3, "text 3"], [2, "fixed"]]);
    assert.equal(timeline.lastSeq, 4);
    assert.equal(timeline.count, 3);
  });

  test("a message posted and deleted while away arrives as a tombstone, never with its text", () => {
    const placed = [];
    const timeline = new Timeline({onShow: (m) => placed.push(m)});
    timeline.receive(message(1));
    timeline.beginCatchUp();
    timeline.showPage([deleted(message(2), 3)]);
    timeline.endCatchUp();
    assert.deepEqual(placed.map((m) => [m.seq, m.deleted, m.message]), [[1, undefined, "text 1"],
      [2, true, ""]]);
  });

  test("a change to a message older than the page shows nothing but is taken", () => {
    const calls = [];
    const timeline = new Timeline({
      onShow: (m) => calls.push(["show", m.seq]),
      onChange: (m) => calls.push(["change", m.seq]),
      lastSeq: 60, firstSeq: 51, shown: Array.from({length: 10}, (_, n) => [151 + n, 51 + n])
    });
    assert.equal(timeline.receive(change("edit", 61, edited(message(7), 61, "later"))), SHOWN);
    assert.deepEqual(calls, []);
    assert.equal(timeline.lastSeq, 61);
    assert.equal(timeline.receive(message(62)), SHOWN);
    assert.deepEqual(calls, [["show", 62]]);
    // Loaded later, scrolling back: in its state after the change, not the page's older one.
    assert.equal(timeline.showOlder(message(7)).message, "later");
    assert.equal(timeline.offPage.size, 0);
  });

  test("an older page newer than the change remembered is shown as the page has it", () => {
    const timeline = new Timeline({lastSeq: 60, firstSeq: 51, shown: [[151, 51]]});
    timeline.receive(change("edit", 61, edited(message(7), 61, "first edit")));
    assert.equal(timeline.showOlder(edited(message(7), 64, "second edit")).message, "second edit");
  });

  test("a catch-up brings a shown message in its new state, and its old state changes nothing", () => {
    const changes = [];
    const timeline = new Timeline({onChange: (m, kind) => changes.push([m.message, kind])});
    timeline.receive(message(1));
    timeline.beginCatchUp();
    timeline.showPage([edited(message(1), 2, "new")]);
    timeline.endCatchUp();
    assert.deepEqual(changes, [["new", null]]);
    // The state after event 2 again, as a page opened around a message may bring it.
    timeline.beginCatchUp();
    timeline.showPage([edited(message(1), 2, "new")]);
    timeline.endCatchUp();
    assert.deepEqual(changes, [["new", null]]);
    assert.equal(timeline.duplicates, 0);
  });

  test("a live change the catch-up already covered never takes a message back", () => {
    const texts = [];
    const timeline = new Timeline({onChange: (m) => texts.push(m.message)});
    timeline.receive(message(1));
    timeline.receive(message(3));  // a gap
    timeline.beginCatchUp();
    // Edits 4 and 5 happened before the fetch; 4 arrives live, held.
    assert.equal(timeline.receive(change("edit", 4, edited(message(1), 4, "older"))), HELD);
    timeline.showPage([message(2), message(3), edited(message(1), 5, "newest")]);
    timeline.endCatchUp();
    assert.equal(timeline.receive(change("edit", 5, edited(message(1), 5, "newest"))), OLD);
    assert.deepEqual(texts, ["newest"]);
    assert.equal(timeline.shown.get(101), 5);
  });

  test("a change without a message in it is taken in sequence and changes nothing", () => {
    const timeline = new Timeline({onChange: () => assert.fail("nothing to change")});
    timeline.receive(message(1));
    assert.equal(timeline.receive({type: "change", change: "edit", seq: 2, object: null}), SHOWN);
    assert.equal(timeline.receive(message(3)), SHOWN);
  });

  // The four below mirror tests/test_keeping_up.py's of bench/keeping_up.py.
  test("a change at or below the last seq is old, and one beyond it a gap", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.receive(change("edit", 2, edited(message(1), 2, "one")));
    assert.equal(timeline.receive(change("edit", 2, edited(message(1), 2, "one"))), OLD);
    assert.equal(timeline.receive(change("edit", 4, edited(message(1), 4))), GAP);
    assert.equal(timeline.receive(message(5)), HELD);
  });

  test("changes missed while away are caught up to the final state", () => {
    const view = new Map();
    const timeline = new Timeline({
      onShow: (m) => view.set(m.id, m.message),
      onChange: (m) => view.set(m.id, m.message)
    });
    timeline.receive(message(1));
    timeline.receive(message(2));
    // Away for 3 (an edit of 1), 4 (message 4), 5 (a delete of 2) and 6
    // (another edit of 1); back, it hears 7 and catches up.
    assert.equal(timeline.receive(message(7)), GAP);
    assert.equal(timeline.beginCatchUp(), 2);
    assert.equal(timeline.showPage([message(4), deleted(message(2), 5),
      edited(message(1), 6, "final")]), 6);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(Object.fromEntries(view), {101: "final", 102: "", 104: "text 4",
      107: "text 7"});
    assert.deepEqual(shown(timeline), ids(1, 2, 4, 7));
    assert.deepEqual([timeline.lastSeq, timeline.duplicates], [7, 0]);
  });

  test("a change held from before the catch-up across a hole is applied", () => {
    const texts = [];
    const timeline = new Timeline({onChange: (m) => texts.push(m.message)});
    timeline.receive(message(1));
    // Event 2 is one no page will give (its message pruned since).
    assert.equal(timeline.receive(change("edit", 3, edited(message(1), 3, "kept"))), GAP);
    timeline.beginCatchUp();
    timeline.showPage([]);
    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual([timeline.lastSeq, texts], [3, ["kept"]]);
  });

  test("the pages of a catch-up follow each other's last version", () => {
    const timeline = new Timeline();
    assert.equal(timeline.beginCatchUp(), 0);
    assert.equal(timeline.showPage([message(1), message(2)]), 2);
    assert.equal(timeline.showPage([edited(message(1), 3)]), 3);
    timeline.endCatchUp();
    assert.deepEqual(shown(timeline), ids(1, 2));
    assert.equal(timeline.shown.get(101), 3);
  });

  test("the version of a message is its seq until it changes", () => {
    assert.equal(versionOf(message(4)), 4);
    assert.equal(versionOf(edited(message(4), 9)), 9);
  });
});

// The room as the server keeps it: messages by id, each with its seq,
// version and state, and the events so far (message and change frames).
class Room {
  constructor() {
    this.messages = new Map();
    this.events = [];
    this.nextId = 100;
  }

  post() {
    const seq = this.events.length + 1;
    this.nextId += 1;
    const posted = {...message(seq, this.nextId), message: "posted at " + seq};
    this.messages.set(posted.id, posted);
    this.events.push(posted);
  }

  change(kind, id) {
    const seq = this.events.length + 1;
    const before = this.messages.get(id);
    let after;
    if (kind === "delete") {
      after = deleted(before, seq);
    } else if (kind === "edit") {
      after = edited(before, seq);
    } else {
      after = {...before, version: seq, reactions: [{emoji: "👍", count: seq, handles: ["bo"]}]};
    }
    this.messages.set(id, after);
    this.events.push(change(kind, seq, after));
  }

  // GET ?after_seq=<after>&limit=<limit>, as the server answers it.
  page(after, limit) {
    const found = Array.from(this.messages.values())
      .filter((m) => versionOf(m) > after)
      .sort((a, b) => versionOf(a) - versionOf(b));
    return {messages: found.slice(0, limit), has_more: found.length > limit};
  }
}

// What a page shows, by seq: [seq, state] pairs, as a Timeline's callbacks place them.
function follow(options = {}) {
  const view = new Map();
  const timeline = new Timeline({
    ...options,
    onShow: (m) => view.set(m.seq, m),
    onChange: (m) => view.set(m.seq, m)
  });
  return {timeline, view};
}

function catchUp(timeline, room, limit) {
  let after = timeline.beginCatchUp();
  // Each page moves on, so a room of n events takes at most n pages.
  for (let pages = 0; pages <= room.events.length; pages += 1) {
    const page = room.page(after, limit);
    after = timeline.showPage(page.messages);
    if (!page.has_more) {
      return timeline.endCatchUp();
    }
  }
  throw new Error("The catch-up did not move on from after_seq=" + after);
}

// A pseudo-random number generator with a seed (mulberry32), so that a
// failing run can be repeated.
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("a member who drops events ends where a live one does", () => {
  test("over random posts, edits, deletes and reactions, lost live and caught up", () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const random = seeded(seed);
      const room = new Room();
      const live = follow();
      const lossy = follow();
      const lossRate = random() / 2;
      const limit = 1 + Math.floor(random() * 4);
      for (let step = 0; step < 60; step += 1) {
        const ids = Array.from(room.messages.values()).filter((m) => !m.deleted).map((m) => m.id);
        const roll = random();
        if (ids.length === 0 || roll < 0.4) {
          room.post();
        } else {
          const kind = roll < 0.6 ? "edit" : roll < 0.8 ? "react" : "delete";
          room.change(kind, ids[Math.floor(random() * ids.length)]);
        }
        const event = room.events[room.events.length - 1];
        live.timeline.receive(event);
        if (random() >= lossRate && lossy.timeline.receive(event) === GAP) {
          while (catchUp(lossy.timeline, room, limit)) {
            // caught up again: a held event revealed another gap
          }
        }
      }
      // The socket comes back: a catch-up, as on every (re)connect.
      while (catchUp(lossy.timeline, room, limit)) {
        // again
      }
      const expected = new Map(Array.from(room.messages.values(), (m) => [m.seq, m]));
      assert.deepEqual(live.view, expected, "seed " + seed);
      assert.deepEqual(lossy.view, expected, "seed " + seed);
      assert.equal(lossy.timeline.lastSeq, room.events.length, "seed " + seed);
      assert.equal(lossy.timeline.duplicates, 0, "seed " + seed);
    }
  });
});

describe("older messages", () => {
  test("an older message is noted once and moves neither the last seq nor onShow", () => {
    const seen = [];
    const timeline = new Timeline({onShow: (m) => seen.push(m.seq), lastSeq: 50, firstSeq: 50,
      shown: [[150, 50]]});
    assert.deepEqual(timeline.showOlder(message(49)), message(49));
    assert.equal(timeline.showOlder(message(49)), null);
    assert.equal(timeline.showOlder(message(50)), null);
    assert.equal(timeline.lastSeq, 50);
    assert.equal(timeline.firstSeq, 49);
    assert.deepEqual(seen, []);
    // Once noted, a page that brings it again does not show it twice.
    timeline.beginCatchUp();
    timeline.showPage([message(49)]);
    timeline.endCatchUp();
    assert.equal(timeline.duplicates, 1);
  });

  test("older pages move the first seq down to the oldest loaded", () => {
    const timeline = new Timeline({lastSeq: 50, firstSeq: 41, shown: [[141, 41]]});
    [31, 32, 33].forEach((seq) => timeline.showOlder(message(seq)));
    assert.equal(timeline.firstSeq, 31);
    assert.deepEqual(shown(timeline), ids(41, 31, 32, 33));
  });
});

describe("a silent socket", () => {
  test("a stored message that arrives live within the grace is not missed", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    const awaited = timeline.awaited({messages: [message(2)], has_more: false});
    assert.equal(awaited, 2);
    timeline.receive(message(2));
    assert.equal(timeline.missed(awaited), false);
  });

  test("a stored message that never arrives live is missed", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    const awaited = timeline.awaited({messages: [message(2)], has_more: true});
    assert.equal(timeline.missed(awaited), true);
    // The page then catches up, which shows it.
    assert.equal(timeline.beginCatchUp(), 1);
    timeline.showPage([message(2)]);
    timeline.endCatchUp();
    assert.equal(timeline.missed(awaited), false);
  });

  test("a stored change that never arrives live is missed, by its version", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    // Message 1 was edited in event 2, which the socket never delivered.
    const awaited = timeline.awaited({messages: [edited(message(1), 2)], has_more: false});
    assert.equal(awaited, 2);
    assert.equal(timeline.missed(awaited), true);
    timeline.receive(change("edit", 2, edited(message(1), 2)));
    assert.equal(timeline.missed(awaited), false);
  });

  test("nothing stored beyond what is shown awaits nothing", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    assert.equal(timeline.awaited({messages: [], has_more: false}), null);
  });

  test("the check runs about every thirty seconds and waits a few for a message", () => {
    assert.equal(checkPeriod(() => 0), CHECK_EVERY_MS * 0.75);
    assert.equal(checkPeriod(() => 0.5), CHECK_EVERY_MS);
    assert.ok(checkPeriod(() => 0.999) < CHECK_EVERY_MS * 1.25);
    assert.ok(ARRIVAL_GRACE_MS < CHECK_EVERY_MS * 0.75);
  });
});

describe("reconnecting", () => {
  test("the delay doubles from half a second to ten seconds, each wait jittered in full", () => {
    const backoff = new Backoff(() => 1);
    const delays = Array.from({length: 7}, () => backoff.next());
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    assert.deepEqual([MIN_DELAY_MS, MAX_DELAY_MS], [500, 10000]);
  });

  test("full jitter waits a random fraction of the delay, from nothing up", () => {
    const backoff = new Backoff(sequence(0, 0.25, 0.5));
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [0, 250, 1000]);
  });

  test("an open socket starts the delay again from half a second", () => {
    const backoff = new Backoff(() => 1);
    backoff.next();
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.next(), 500);
  });

  test("a failed catch-up is retried after half a second to ten and a half", () => {
    assert.equal(retryDelay(() => 0), MIN_DELAY_MS);
    assert.equal(retryDelay(() => 0.5), MIN_DELAY_MS + MAX_DELAY_MS / 2);
  });
});
