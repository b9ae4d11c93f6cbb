// The outbox (static/chat/room/outbox.mjs), imported as the server serves
// it: messages queued while there is no socket, sent in order with their
// nonces, sent again on the next socket until echoed, and refusals kept
// for the reader. Run by tests/test_js.py, or `node --test tests/js/`.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {
  MESSAGE_REFUSALS,
  Outbox,
  QUEUED,
  REFUSED,
  SENT,
  randomNonce
} from "../../static/chat/room/outbox.mjs";

// An outbox whose nonces are n1, n2, …
function outbox() {
  let made = 0;
  return new Outbox(() => "n" + ++made);
}

// A socket that takes frames while `open`, recording them.
function socket(open = true) {
  const sent = [];
  const send = (frame) => {
    if (!send.open) {
      return false;
    }
    sent.push(frame);
    return true;
  };
  send.open = open;
  send.sent = sent;
  return send;
}

function states(box) {
  return box.entries.map((entry) => [entry.text, entry.state]);
}

describe("sending", () => {
  test("a message is a typed chat frame with its nonce", () => {
    const box = outbox();
    const send = socket();
    const entry = box.add("hello");
    assert.deepEqual([entry.nonce, entry.state, entry.error], ["n1", QUEUED, null]);
    assert.deepEqual(box.flush(send), [entry]);
    assert.deepEqual(send.sent, [{type: "message", message: "hello", nonce: "n1"}]);
    assert.equal(entry.state, SENT);
  });

  test("messages written while there is no socket wait, then go in order", () => {
    const box = outbox();
    const send = socket(false);
    box.add("one");
    box.add("two");
    assert.deepEqual(box.flush(send), []);
    assert.deepEqual(states(box), [["one", QUEUED], ["two", QUEUED]]);
    send.open = true;
    box.add("three");
    box.flush(send);
    assert.deepEqual(send.sent.map((frame) => [frame.message, frame.nonce]),
      [["one", "n1"], ["two", "n2"], ["three", "n3"]]);
  });

  test("a message is sent once per socket, not again at the next flush", () => {
    const box = outbox();
    const send = socket();
    box.add("one");
    box.flush(send);
    box.add("two");
    box.flush(send);
    assert.deepEqual(send.sent.map((frame) => frame.message), ["one", "two"]);
  });

  test("a flush stops at the first frame that does not go", () => {
    const box = outbox();
    let room = 1;
    const sent = [];
    const send = (frame) => room-- > 0 && sent.push(frame) > 0;
    box.add("one");
    box.add("two");
    box.flush(send);
    assert.deepEqual(states(box), [["one", SENT], ["two", QUEUED]]);
    assert.deepEqual(sent.map((frame) => frame.message), ["one"]);
  });

  test("nonces are fresh random UUIDs, within the protocol's 64 characters", () => {
    const made = new Set(Array.from({length: 100}, randomNonce));
    assert.equal(made.size, 100);
    made.forEach((nonce) => {
      assert.match(nonce, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });
  });
});

describe("echoes", () => {
  test("the echo of a nonce ends its message", () => {
    const box = outbox();
    box.add("one");
    box.add("two");
    box.flush(socket());
    assert.equal(box.echoed("n1").text, "one");
    assert.deepEqual(states(box), [["two", SENT]]);
  });

  test("a nonce the outbox does not hold (another tab's) is ignored", () => {
    const box = outbox();
    box.add("one");
    box.flush(socket());
    assert.equal(box.echoed("elsewhere"), null);
    assert.equal(box.echoed("n1").text, "one");
    assert.equal(box.echoed("n1"), null);
    assert.deepEqual(box.entries, []);
  });

  test("what a closed socket did not echo goes again, with the same nonces, in order", () => {
    const box = outbox();
    const first = socket();
    box.add("one");
    box.add("two");
    box.flush(first);
    box.echoed("n1");
    box.disconnected();
    box.add("three");
    assert.deepEqual(states(box), [["two", QUEUED], ["three", QUEUED]]);
    const second = socket();
    box.flush(second);
    assert.deepEqual(second.sent, [
      {type: "message", message: "two", nonce: "n2"},
      {type: "message", message: "three", nonce: "n3"}
    ]);
  });
});

describe("refusals", () => {
  test("a message's refusal is the oldest message's still unanswered", () => {
    const box = outbox();
    box.add("one");
    box.add("two");
    box.flush(socket());
    box.echoed("n1");
    const frame = {type: "error", error: "MESSAGE_TOO_LONG", detail: "Too long."};
    const refused = box.refused(frame);
    assert.equal(refused.text, "two");
    assert.equal(refused.state, REFUSED);
    assert.equal(refused.error, frame);
  });

  test("errors that answer no message refuse nothing", () => {
    const box = outbox();
    box.add("one");
    box.flush(socket());
    for (const error of ["NOT_JOINED", "ROOM_ACCESS_DENIED", "NOT_YOURS", "NOT_AN_EMOJI", "TOO_LATE"]) {
      assert.equal(MESSAGE_REFUSALS.has(error), false);
      assert.equal(box.refused({type: "error", error}), null);
    }
    assert.equal(box.refused(null), null);
    assert.deepEqual(states(box), [["one", SENT]]);
  });

  test("a refusal with nothing sent refuses nothing", () => {
    const box = outbox();
    box.add("queued");
    assert.equal(box.refused({error: "RATE_LIMITED"}), null);
    assert.deepEqual(states(box), [["queued", QUEUED]]);
  });

  test("a refused message stays until the reader retries it, with its nonce", () => {
    const box = outbox();
    const send = socket();
    box.add("one");
    box.flush(send);
    box.refused({error: "UNAVAILABLE"});
    box.disconnected();
    box.flush(send);
    assert.equal(send.sent.length, 1);
    assert.equal(box.retry("n1").state, QUEUED);
    assert.equal(box.retry("n1"), null);
    box.flush(send);
    assert.deepEqual(send.sent[1], {type: "message", message: "one", nonce: "n1"});
  });

  test("a refused message can be taken back, and only a refused one", () => {
    const box = outbox();
    box.add("one");
    box.add("two");
    box.flush(socket());
    assert.equal(box.remove("n2"), null);
    box.refused({error: "INVALID_FIELD"});
    assert.equal(box.remove("n1").text, "one");
    assert.deepEqual(states(box), [["two", SENT]]);
  });

  test("a refusal answered early passes on to the message it was for", () => {
    // The interface server answers RATE_LIMITED at once, ahead of the
    // echoes of messages sent before the refused one.
    const box = outbox();
    box.add("one");
    box.add("two");
    box.add("three");
    box.flush(socket());
    const limited = {error: "RATE_LIMITED", detail: "Slow down."};
    assert.equal(box.refused(limited).text, "one");
    box.echoed("n1");
    assert.deepEqual(states(box), [["two", REFUSED], ["three", SENT]]);
    box.echoed("n2");
    assert.deepEqual(states(box), [["three", REFUSED]]);
    assert.equal(box.entries[0].error, limited);
  });

  test("a refusal passes on only to a message sent before it came", () => {
    const box = outbox();
    const send = socket();
    box.add("one");
    box.flush(send);
    box.refused({error: "UNAVAILABLE"});
    box.add("later");
    box.flush(send);
    // "one" was stored after all: its refusal answered some other frame.
    box.echoed("n1");
    assert.deepEqual(states(box), [["later", SENT]]);
  });
});
