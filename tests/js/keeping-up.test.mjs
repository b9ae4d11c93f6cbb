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
  retryDelay
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
  return Array.from(timeline.shown);
}

function heldSeqs(timeline) {
  return timeline.pending.map(({message}) => message.seq);
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
    assert.deepEqual([timeline.lastId, timeline.lastSeq], [103, 3]);
    assert.equal(timeline.pending.length, 0);
    assert.equal(timeline.catchUpDue, false);
  });

  test("a timeline can start from messages a page already showed", () => {
    const timeline = new Timeline({lastId: 107, lastSeq: 7, shown: ids(6, 7)});
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
  test("a catch-up starts after the last message shown", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    timeline.receive(message(3));
    assert.equal(timeline.beginCatchUp(), 101);
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
    assert.equal(timeline.showPage([message(2), message(3)]), 103);
    assert.deepEqual(shown(timeline), ids(1, 2, 3));

    assert.equal(timeline.endCatchUp(), false);
    assert.deepEqual(shown(timeline), ids(1, 2, 3, 4, 5, 6));
    assert.deepEqual([timeline.lastId, timeline.lastSeq], [106, 6]);
    assert.equal(timeline.pending.length, 0);
    assert.equal(timeline.catchingUp, false);
  });

  test("pages are fetched each after the last message of the one before", () => {
    const timeline = new Timeline();
    assert.equal(timeline.beginCatchUp(), 0);
    assert.equal(timeline.showPage([message(1), message(2)]), 102);
    assert.equal(timeline.showPage([message(3)]), 103);
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
    // Message 2 was deleted: no catch-up will ever bring it.
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

    assert.equal(timeline.beginCatchUp(), 101);
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

    assert.equal(timeline.beginCatchUp(), 101);
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

describe("older messages", () => {
  test("an older message is noted once and moves neither the last id nor the last seq", () => {
    const seen = [];
    const timeline = new Timeline({onShow: (m) => seen.push(m.seq), lastId: 150, lastSeq: 50,
      shown: [150]});
    assert.equal(timeline.showOlder(message(49)), true);
    assert.equal(timeline.showOlder(message(49)), false);
    assert.equal(timeline.showOlder(message(50)), false);
    assert.deepEqual([timeline.lastId, timeline.lastSeq], [150, 50]);
    assert.deepEqual(seen, []);
    // Once noted, a page that brings it again does not show it twice.
    timeline.beginCatchUp();
    timeline.showPage([message(49)]);
    timeline.endCatchUp();
    assert.equal(timeline.duplicates, 1);
  });
});

describe("a silent socket", () => {
  test("a stored message that arrives live within the grace is not missed", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    const awaited = timeline.awaited({messages: [message(2)], has_more: false});
    assert.equal(awaited, 102);
    timeline.receive(message(2));
    assert.equal(timeline.missed(awaited), false);
  });

  test("a stored message that never arrives live is missed", () => {
    const timeline = new Timeline();
    timeline.receive(message(1));
    const awaited = timeline.awaited({messages: [message(2)], has_more: true});
    assert.equal(timeline.missed(awaited), true);
    // The page then catches up, which shows it.
    assert.equal(timeline.beginCatchUp(), 101);
    timeline.showPage([message(2)]);
    timeline.endCatchUp();
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
