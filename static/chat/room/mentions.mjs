// Mentions on the page, with no DOM (docs/mentions.md): whether a message
// mentions the reader, the "@name" being typed before the caret, and the
// names that complete it. tests/js/mentions.test.mjs holds its tests.

// What @here is written as, and offered as, in the completion list.
export const HERE = "here";

// The most names the completion list offers at once.
export const MOST_OFFERED = 8;

// A username's characters (Django's default validator: letters, digits
// and . @ + - _), as chat/mentions.py reads them.
const NAME_CHARACTER = /[\p{L}\p{N}_.@+-]/u;

// An "@" that starts a mention: at the start, or after a character that no
// name holds; then what is typed of the name up to the caret.
const TYPED_MENTION = /(?:^|[^\p{L}\p{N}_.@+-])@([\p{L}\p{N}_.+-]*)$/u;

function folded(name) {
  return String(name).normalize("NFKC").toLowerCase();
}

// Whether `message` (a message frame) mentions `reader` ({identityKind,
// handle}): a signed-in reader named in its `mentions`, or any reader
// with a name when it says @here. Never the reader's own message, nor a
// deleted one.
export function mentionsReader(message, reader) {
  if (!message || message.deleted === true || !reader.handle || !reader.identityKind) {
    return false;
  }
  const own = message.handle === reader.handle &&
    (reader.identityKind === "user") === (message.guest !== true);
  if (own) {
    return false;
  }
  if (message.mentions_here === true) {
    return true;
  }
  return reader.identityKind === "user" && Array.isArray(message.mentions) &&
    message.mentions.some((name) => folded(name) === folded(reader.handle));
}

// The mention being typed in `text` (a string) with the caret at `caret`
// (an index), or null: {start, query}, the index of its "@" and what
// follows it up to the caret ("" just after the "@"). An "@" inside a word,
// as in an e-mail address, starts none; nor does one whose name the caret
// is in the middle of.
export function typedMention(text, caret) {
  const before = text.slice(0, caret);
  const match = TYPED_MENTION.exec(before);
  if (!match) {
    return null;
  }
  const after = text.charAt(caret);
  if (after && NAME_CHARACTER.test(after)) {
    return null;
  }
  return {start: caret - match[1].length - 1, query: match[1]};
}

// The names (strings) to offer for `query`: those of `names` (an iterable,
// repeats and "" allowed) that start with it, whatever the case, then
// those that hold it; "here" when it starts with the query; never
// `myHandle`; at most MOST_OFFERED, each once.
export function completions(query, names, myHandle) {
  const wanted = folded(query);
  const seen = new Set([folded(myHandle || "")]);
  const starting = [];
  const holding = [];
  for (const name of [...names].sort((a, b) => folded(a).localeCompare(folded(b)))) {
    const key = folded(name);
    if (!name || seen.has(key) || key === HERE) {
      continue;
    }
    seen.add(key);
    if (key.startsWith(wanted)) {
      starting.push(name);
    } else if (wanted && key.includes(wanted)) {
      holding.push(name);
    }
  }
  const offered = [...starting, ...holding];
  if (HERE.startsWith(wanted)) {
    offered.push(HERE);
  }
  return offered.slice(0, MOST_OFFERED);
}

// `text` with the mention typed from `start` to `caret` replaced by
// "@name ", as {text, caret}: the new text and where the caret goes.
export function complete(text, start, caret, name) {
  const inserted = "@" + name + " ";
  const rest = text.slice(caret).replace(/^ /, "");
  return {text: text.slice(0, start) + inserted + rest, caret: start + inserted.length};
}
