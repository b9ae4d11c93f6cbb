// The "Send later" menu's times (static/chat/room/schedule.mjs), imported
// as the server serves it. Run by tests/test_js.py in the machine's zone;
// the rules are local-time ones, so they hold in any.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {CHOICES, fromLocalInput, toLocalInput, whenLabel} from
  "../../static/chat/room/schedule.mjs";

describe("the menu's choices", () => {
  const now = new Date(2026, 11, 5, 22, 40, 30);

  test("in 20 minutes and in an hour are that long from now", () => {
    assert.equal(CHOICES["20m"](now).getTime() - now.getTime(), 20 * 60 * 1000);
    assert.equal(CHOICES["1h"](now).getTime() - now.getTime(), 60 * 60 * 1000);
  });

  test("tomorrow at 9:00 is 9:00 local time on the next calendar day", () => {
    const at = CHOICES.tomorrow9(now);
    assert.deepEqual(
      [at.getFullYear(), at.getMonth(), at.getDate(), at.getHours(), at.getMinutes()],
      [2026, 11, 6, 9, 0]
    );
  });

  test("tomorrow at 9:00 crosses a month's and a year's end", () => {
    const at = CHOICES.tomorrow9(new Date(2026, 11, 31, 23, 59));
    assert.deepEqual([at.getFullYear(), at.getMonth(), at.getDate()], [2027, 0, 1]);
  });
});

describe("a chosen time", () => {
  test("a datetime-local value is read in local time and written back the same", () => {
    const at = fromLocalInput("2026-12-06T09:30");
    assert.deepEqual([at.getDate(), at.getHours(), at.getMinutes()], [6, 9, 30]);
    assert.equal(toLocalInput(at), "2026-12-06T09:30");
  });

  test("a value with seconds keeps them", () => {
    assert.equal(fromLocalInput("2026-12-06T09:30:15").getSeconds(), 15);
  });

  test("an empty or malformed value is no time", () => {
    for (const value of ["", "tomorrow", "2026-12-06", null, undefined]) {
      assert.equal(fromLocalInput(value), null);
    }
  });
});

describe("how a pending one's time reads", () => {
  const now = new Date(2026, 11, 5, 12, 0);

  test("today shows the time alone, tomorrow says so", () => {
    assert.doesNotMatch(whenLabel(new Date(2026, 11, 5, 14, 20), now), /Tomorrow/);
    assert.match(whenLabel(new Date(2026, 11, 6, 9, 0), now), /^Tomorrow /);
  });

  test("later days name the day", () => {
    assert.match(whenLabel(new Date(2026, 11, 9, 9, 0), now), /, /);
  });
});
