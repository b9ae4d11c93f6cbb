// How the room groups messages and where its days begin
// (static/chat/room/grouping.mjs), imported as the server serves it. Run
// by tests/test_js.py, or `TZ=… node --test tests/js/`; the day rules are
// run in the zone the test sets.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {GROUP_WITHIN_MS, continues, dayLabel, localDay, sameDay} from
  "../../static/chat/room/grouping.mjs";

// A message from `handle` at local time `hours`:`minutes` on 1 December 2026.
function at(hours, minutes, handle = "ann", flags = {}) {
  return {
    handle,
    guest: Boolean(flags.guest),
    bot: Boolean(flags.bot),
    time: new Date(2026, 11, 1, hours, minutes).getTime()
  };
}

describe("groups", () => {
  test("the next message from the same author within five minutes continues the group", () => {
    assert.equal(continues(at(10, 0), at(10, 4)), true);
    assert.equal(continues(at(10, 0), at(10, 5)), true);
    assert.equal(GROUP_WITHIN_MS, 300000);
  });

  test("a message more than five minutes later starts a group of its own", () => {
    assert.equal(continues(at(10, 0), at(10, 6)), false);
  });

  test("another author starts a group", () => {
    assert.equal(continues(at(10, 0, "ann"), at(10, 1, "bob")), false);
  });

  test("a guest or a bot under the same name is another author", () => {
    assert.equal(continues(at(10, 0, "ann"), at(10, 1, "ann", {guest: true})), false);
    assert.equal(continues(at(10, 0, "ann", {guest: true}), at(10, 1, "ann")), false);
    assert.equal(continues(at(10, 0, "ann"), at(10, 1, "ann", {bot: true})), false);
    assert.equal(continues(at(10, 0, "ann", {guest: true}), at(10, 1, "ann", {guest: true})), true);
  });

  test("the first message, or one after a later one, starts a group", () => {
    assert.equal(continues(null, at(10, 0)), false);
    assert.equal(continues(at(10, 4), at(10, 0)), false);
  });

  test("a message whose time cannot be read starts a group", () => {
    assert.equal(continues(at(10, 0), {...at(10, 1), time: NaN}), false);
  });

  test("midnight starts a group even within five minutes", () => {
    const late = {...at(0, 0), time: new Date(2026, 11, 1, 23, 58).getTime()};
    const early = {...at(0, 0), time: new Date(2026, 11, 2, 0, 1).getTime()};
    assert.equal(sameDay(late, early), false);
    assert.equal(continues(late, early), false);
  });
});

describe("days", () => {
  test("a day is the reader's own calendar day", () => {
    assert.equal(localDay(new Date(2026, 11, 1, 0, 0).getTime()),
      localDay(new Date(2026, 11, 1, 23, 59).getTime()));
    assert.notEqual(localDay(new Date(2026, 11, 1, 23, 59).getTime()),
      localDay(new Date(2026, 11, 2, 0, 0).getTime()));
  });

  test("today and yesterday are named, other days dated, with the year when not this one", () => {
    const now = new Date(2026, 11, 5, 9, 30).getTime();
    assert.equal(dayLabel(new Date(2026, 11, 5, 0, 10).getTime(), now), "Today");
    assert.equal(dayLabel(new Date(2026, 11, 4, 23, 50).getTime(), now), "Yesterday");
    const older = dayLabel(new Date(2026, 11, 1, 12, 0).getTime(), now);
    assert.match(older, /1/);
    assert.doesNotMatch(older, /2026/);
    assert.match(dayLabel(new Date(2025, 11, 1, 12, 0).getTime(), now), /2025/);
  });

  test("yesterday across the first of a month is still yesterday", () => {
    const now = new Date(2026, 11, 1, 8, 0).getTime();
    assert.equal(dayLabel(new Date(2026, 10, 30, 22, 0).getTime(), now), "Yesterday");
  });
});
