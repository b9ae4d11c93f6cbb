// One message as the page shows it: an <li class="message"> with its
// header (handle, labels, and its time, a link to the message), its image,
// its text, "(edited)", and its reactions; or, for a deleted message, its
// tombstone. The same markup the server renders in
// templates/chat/message.html. A message's text reaches the page only as
// the server's sanitised `html` (chat/formatting.py), else as text through
// textContent; everything else it holds goes through textContent and
// attributes.

import {mentionsReader} from "./mentions.mjs";

const clockFormat = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit"});
const dayFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
});
const fullFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "full", timeStyle: "long"});

// What a tombstone says in place of the message.
export const TOMBSTONE_TEXT = "message deleted";

// The ISO 8601 time `iso` as a full date and time in the reader's zone,
// or null when it cannot be read.
export function fullTime(iso) {
  const date = new Date(iso);
  return isNaN(date.getTime()) ? null : fullFormat.format(date);
}

// Shows the ISO 8601 time `iso` in `element` (a <time>) in the reader's own
// time zone: the clock today, the day and clock before; the full date in
// its title. An unparsable time leaves the element as it is.
export function showTime(element, iso) {
  const date = new Date(iso);
  if (isNaN(date.getTime())) {
    return;
  }
  const today = new Date().toDateString() === date.toDateString();
  element.textContent = (today ? clockFormat : dayFormat).format(date);
  element.title = fullFormat.format(date);
}

// Shows every <time datetime> under `root` with showTime, and the time of
// every "(edited)" in its title (the messages the server rendered, in UTC).
export function showTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((time) => {
    showTime(time, time.getAttribute("datetime"));
  });
  root.querySelectorAll(".edited[data-edited]").forEach((edited) => {
    const when = fullTime(edited.dataset.edited);
    if (when) {
      edited.title = "Edited " + when;
    }
  });
}

// Only a path on this site or an https:// address may be an image's
// source or link: never javascript:, data: or a protocol-relative //host.
export function safeUrl(url) {
  if (typeof url !== "string") {
    return false;
  }
  if (url.charAt(0) === "/") {
    return url.charAt(1) !== "/" && url.charAt(1) !== "\\";
  }
  return url.slice(0, 8).toLowerCase() === "https://";
}

// Whether `message` is the reader's own, for a reader who speaks as
// `reader.identityKind` ("user", "guest" or "") under `reader.handle`.
// Only a signed-in reader has messages of their own: a guest message under
// their username is someone else's, and guest names are nobody's
// (docs/protocol.md, "Receiving").
export function isMine(message, reader) {
  return reader.identityKind === "user" && message.guest !== true &&
    message.handle === reader.handle;
}

// The address of the message `seq` in the room at `roomPath` ("/lobby/"):
// the room opened around it, the message highlighted.
export function permalink(roomPath, seq) {
  return roomPath + "?at=" + seq;
}

function element(tagName, className, text) {
  const node = document.createElement(tagName);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// An image message's thumbnail, linked to the original; null when the
// message has no image, or one whose addresses are not to be trusted.
// width and height are set so that the list does not jump as it loads.
function renderImage(message) {
  const image = message.image;
  if (!image || typeof image !== "object" ||
      !safeUrl(image.url) || !safeUrl(image.thumbnail_url)) {
    return null;
  }
  const link = element("a", "image");
  link.setAttribute("href", image.url);
  link.setAttribute("target", "_blank");
  link.setAttribute("rel", "noopener noreferrer");
  const img = document.createElement("img");
  img.setAttribute("src", image.thumbnail_url);
  img.setAttribute("alt", typeof message.message === "string" ? message.message : "");
  img.setAttribute("loading", "lazy");
  const width = Number(image.width);
  const height = Number(image.height);
  if (Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) {
    img.setAttribute("width", String(width));
    img.setAttribute("height", String(height));
  }
  link.append(img);
  return link;
}

// What a reaction's button says to a screen reader and in its title: the
// emoji, how many gave it and who.
export function reactionLabel(reaction) {
  return reaction.emoji + " " + reaction.count + ": " + reaction.handles.join(", ");
}

// The reactions under a message, or null when it has none: a button per
// emoji with its count, pressed when the reader gave it; its title and
// accessible label name who reacted. Clicking is actions.mjs's.
function renderReactions(message, reader) {
  const reactions = Array.isArray(message.reactions) ? message.reactions.filter((reaction) =>
    reaction && typeof reaction.emoji === "string" && Array.isArray(reaction.handles)) : [];
  if (!reactions.length) {
    return null;
  }
  const list = element("ul", "reactions");
  list.setAttribute("aria-label", "Reactions");
  reactions.forEach((reaction) => {
    const handles = reaction.handles.map(String);
    const label = reactionLabel({emoji: reaction.emoji, count: Number(reaction.count), handles});
    const button = element("button", "reaction");
    button.type = "button";
    button.dataset.emoji = reaction.emoji;
    button.setAttribute("aria-pressed", String(Boolean(reader.handle) &&
      handles.includes(reader.handle)));
    button.title = handles.join(", ");
    button.setAttribute("aria-label", label);
    button.append(element("span", "emoji", reaction.emoji), " ",
      element("span", "count", String(Number(reaction.count))));
    const item = document.createElement("li");
    item.append(button);
    list.append(item);
  });
  return list;
}

// The <li> for `message` (a message of the live shape: {id, seq,
// timestamp, handle, message, and optionally version, bot, guest, image,
// html, edited, reactions, deleted, mentions, mentions_here}), as seen by
// `reader`: {identityKind, handle, roomPath}. A message that mentions the
// reader (mentions.mjs) is marked "mentions-me".
export function renderMessage(message, reader) {
  const li = element("li", "message");
  const mine = isMine(message, reader);
  if (mine) {
    li.classList.add("mine");
  }
  if (mentionsReader(message, reader)) {
    li.classList.add("mentions-me");
  }
  li.dataset.id = message.id;
  li.dataset.seq = message.seq;
  li.dataset.version = Number.isInteger(message.version) ? message.version : message.seq;

  const meta = element("div", "meta");
  meta.append(element("span", "handle", message.handle), " ");
  if (message.bot === true) {
    // Posted through the HTTP API: say so beside the handle.
    li.classList.add("bot");
    meta.append(element("span", "bot-label", "bot"), " ");
  }
  if (message.guest === true) {
    // Sent by someone not signed in: the handle is theirs to pick.
    li.classList.add("guest");
    meta.append(element("span", "guest-label", "guest"), " ");
  }
  const link = element("a", "permalink");
  link.setAttribute("href", permalink(reader.roomPath, message.seq));
  const time = document.createElement("time");
  time.dateTime = message.timestamp;
  showTime(time, message.timestamp);
  link.append(time);
  meta.append(link);
  li.append(meta);

  if (message.deleted === true) {
    li.classList.add("deleted");
    li.append(element("p", "text tombstone", TOMBSTONE_TEXT));
    return li;
  }
  if (mine && typeof message.message === "string") {
    // The text as sent, for editing it in place.
    li.dataset.text = message.message;
  }
  const image = renderImage(message);
  if (image) {
    li.append(image);
  }
  const body = element("div", "body");
  const text = element("div", "text formatted");
  if (typeof message.html === "string") {
    // The server's own rendering, sanitised there (chat/formatting.py).
    text.innerHTML = message.html;
  } else {
    text.classList.remove("formatted");
    text.textContent = message.message;
  }
  body.append(text);
  if (typeof message.edited === "string") {
    const edited = element("span", "edited", "(edited)");
    edited.dataset.edited = message.edited;
    const when = fullTime(message.edited);
    edited.title = when ? "Edited " + when : "Edited";
    body.append(" ", edited);
  }
  li.append(body);
  const reactions = renderReactions(message, reader);
  if (reactions) {
    li.append(reactions);
  }
  return li;
}
