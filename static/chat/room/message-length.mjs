// A message's length as the server counts it, and what the composer's
// counter says about it. No DOM.
//
// The server takes 1 to CHAT_MESSAGE_MAX_LENGTH characters and counts
// Unicode code points, as Python's len() does (docs/protocol.md,
// "Sending"). A JavaScript string's length, and a textarea's maxlength,
// count UTF-16 units instead, in which an emoji outside the Basic
// Multilingual Plane (😀, U+1F600) is two: counted so, a message of 1,000
// such emoji would look full while the server takes 2,000.

// The counter shows once a message reaches this share of the limit.
export const COUNTER_FROM = 0.9;

// The number of code points in `text` (a string), as Python's len()
// counts the same text: a surrogate pair is one, and so is a lone
// surrogate (which the server refuses anyway).
export function codePoints(text) {
  // A string's iterator, which Array.from follows, steps by code point.
  return Array.from(text).length;
}

// What the counter shows for `text` (a string) under a limit of `max`
// code points (a positive integer): {count, max, shown, over, excess}.
// `count` is the text's length in code points; `shown` is whether the
// counter shows (from COUNTER_FROM of the limit on); `over` whether the
// text is too long to send, by `excess` code points (0 when it is not).
export function measure(text, max) {
  const count = codePoints(text);
  const excess = Math.max(0, count - max);
  return {
    count,
    max,
    shown: count >= Math.ceil(max * COUNTER_FROM),
    over: excess > 0,
    excess
  };
}
