// Mentions on the page with no DOM (static/chat/room/mentions.mjs),
// imported as the server serves it. Run by tests/test_js.py, or
// `node --test tests/js/`.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {
  MOST_OFFERED,
  complete,
  completions,
  mentionsReader,
  typedMention
} from "../../static/chat/room/mentions.mjs";

const ann = {identityKind: "user", handle: "ann"};
const gus = {identityKind: "guest", handle: "gus"};

describe("mentionsReader", () => {
  test("a signed-in reader named in mentions, whatever the case", () => {
    assert.equal(mentionsReader({handle: "bob", mentions: ["Ann"]}, ann), true);
    assert.equal(mentionsReader({handle: "bob", mentions: ["bob"]}, ann), false);
    assert.equal(mentionsReader({handle: "bob"}, ann), false);
  });

  test("@here mentions any reader with a name, a guest too", () => {
    const here = {handle: "bob", mentions_here: true};
    assert.equal(mentionsReader(here, ann), true);
    assert.equal(mentionsReader(here, gus), true);
    assert.equal(mentionsReader(here, {identityKind: "", handle: ""}), false);
  });

  test("a guest is never named, and no reader by their own message", () => {
    assert.equal(mentionsReader({handle: "bob", mentions: ["gus"]}, gus), false);
    assert.equal(mentionsReader({handle: "ann", mentions: ["ann"], mentions_here: true}, ann), false);
    assert.equal(mentionsReader({handle: "gus", guest: true, mentions_here: true}, gus), false);
    // A guest who took a user's name is someone else.
    assert.equal(mentionsReader({handle: "ann", guest: true, mentions: ["ann"]}, ann), true);
  });

  test("a deleted message mentions nobody", () => {
    assert.equal(mentionsReader({handle: "bob", deleted: true, mentions_here: true}, ann), false);
  });
});

describe("typedMention", () => {
  test("an @ at the start or after a space, up to the caret", () => {
    assert.deepEqual(typedMention("@an", 3), {start: 0, query: "an"});
    assert.deepEqual(typedMention("hi @", 4), {start: 3, query: ""});
    assert.deepEqual(typedMention("hi (@bob-s", 10), {start: 4, query: "bob-s"});
  });

  test("none inside a word, as in an address, or in the middle of a name", () => {
    assert.equal(typedMention("ann@exa", 7), null);
    assert.equal(typedMention("hi @ann there", 13), null);
    assert.equal(typedMention("hi @annie", 6), null);
  });
});

describe("completions", () => {
  test("names starting with the query first, then holding it, and here", () => {
    const names = ["carol", "Hannah", "harry", "ann", "ann", ""];
    assert.deepEqual(completions("ha", names, "me"), ["Hannah", "harry"]);
    assert.deepEqual(completions("an", names, "me"), ["ann", "Hannah"]);
    assert.deepEqual(completions("h", names, "me"), ["Hannah", "harry", "here"]);
  });

  test("never the reader, and at most a few", () => {
    assert.deepEqual(completions("", ["ann", "bob"], "ann"), ["bob", "here"]);
    const many = Array.from({length: 20}, (_, n) => "user" + n);
    assert.equal(completions("user", many, "").length, MOST_OFFERED);
  });
});

describe("complete", () => {
  test("replaces what was typed with the name and a space", () => {
    assert.deepEqual(complete("hi @an", 3, 6, "ann"), {text: "hi @ann ", caret: 8});
    assert.deepEqual(complete("@b see", 0, 2, "bob"), {text: "@bob see", caret: 5});
  });
});
