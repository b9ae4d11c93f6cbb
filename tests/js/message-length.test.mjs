// The composer's counter (static/chat/room/message-length.mjs), imported
// as the server serves it: a message's length counted as the server
// counts it, in code points (Python's len), and when the counter shows
// and refuses. Run by tests/test_js.py, or `node --test tests/js/`.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {COUNTER_FROM, codePoints, measure} from "../../static/chat/room/message-length.mjs";

describe("counting", () => {
  test("plain text counts one per character", () => {
    assert.equal(codePoints(""), 0);
    assert.equal(codePoints("hello"), 5);
    assert.equal(codePoints("a\nb\tc"), 5);
  });

  test("an emoji beyond the BMP is one code point, though two UTF-16 units", () => {
    const grin = "\u{1F600}";
    assert.equal(grin.length, 2);
    assert.equal(codePoints(grin), 1);
    assert.equal(codePoints(grin.repeat(1000)), 1000);
    assert.equal(codePoints("ok " + grin + "!"), 5);
  });

  test("a joined emoji counts each code point, as Python's len does", () => {
    // Family: man, ZWJ, woman, ZWJ, girl: len() == 5 in Python.
    assert.equal(codePoints("\u{1F468}\u200D\u{1F469}\u200D\u{1F467}"), 5);
    // A flag is two regional indicators; an accented letter may be two.
    assert.equal(codePoints("\u{1F1EB}\u{1F1F7}"), 2);
    assert.equal(codePoints("e\u0301"), 2);
    assert.equal(codePoints("\u00e9"), 1);
  });

  test("a lone surrogate counts as one", () => {
    assert.equal(codePoints("a\uD83D"), 2);
    assert.equal(codePoints("\uDE00b"), 2);
  });
});

describe("the counter", () => {
  test("is hidden well below the limit", () => {
    assert.deepEqual(measure("x".repeat(100), 2000), {
      count: 100,
      max: 2000,
      shown: false,
      over: false,
      excess: 0
    });
  });

  test("shows from nine tenths of the limit", () => {
    assert.equal(COUNTER_FROM, 0.9);
    assert.equal(measure("x".repeat(1799), 2000).shown, false);
    assert.equal(measure("x".repeat(1800), 2000).shown, true);
    assert.equal(measure("x".repeat(9), 10).shown, true);
    assert.equal(measure("x".repeat(8), 10).shown, false);
  });

  test("at the limit is not over it", () => {
    const length = measure("x".repeat(2000), 2000);
    assert.equal(length.shown, true);
    assert.equal(length.over, false);
    assert.equal(length.excess, 0);
  });

  test("past the limit refuses, and says by how much", () => {
    assert.deepEqual(measure("x".repeat(2500), 2000), {
      count: 2500,
      max: 2000,
      shown: true,
      over: true,
      excess: 500
    });
    assert.equal(measure("x".repeat(2001), 2000).excess, 1);
  });

  test("2,000 emoji fit a limit of 2,000, and one more does not", () => {
    const grin = "\u{1F600}";
    assert.equal(measure(grin.repeat(2000), 2000).over, false);
    assert.deepEqual(measure(grin.repeat(2001), 2000).excess, 1);
  });
});
