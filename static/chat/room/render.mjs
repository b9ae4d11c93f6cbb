// One message as the page shows it: an <li class="message"> with its
// handle, labels, time, image and text, the same markup the server renders
// in templates/chat/room.html. Built with textContent only: whatever a
// message holds is shown as text.

const clockFormat = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit"});
const dayFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
});
const fullFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "full", timeStyle: "long"});

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

// Shows every <time datetime> under `root` with showTime (the messages the
// server rendered, in UTC).
export function showTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((time) => {
    showTime(time, time.getAttribute("datetime"));
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

function tag(className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
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
  const link = document.createElement("a");
  link.className = "image";
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

// The <li> for `message` (a message frame: {id, seq, timestamp, handle,
// message, and optionally bot, guest, image}), as seen by a reader who
// speaks as `identityKind` ("user", "guest" or "") under `myHandle`.
export function renderMessage(message, identityKind, myHandle) {
  const li = document.createElement("li");
  li.className = "message";
  // Only a signed-in reader has messages of their own: a guest message
  // under their username is someone else's, and guest names are nobody's.
  if (identityKind === "user" && message.guest !== true && message.handle === myHandle) {
    li.classList.add("mine");
  }
  li.dataset.id = message.id;
  li.dataset.seq = message.seq;
  const handle = document.createElement("span");
  handle.className = "handle";
  handle.textContent = message.handle;
  const time = document.createElement("time");
  time.dateTime = message.timestamp;
  showTime(time, message.timestamp);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.message;
  li.append(handle, " ");
  if (message.bot === true) {
    // Posted through the HTTP API: say so beside the handle.
    li.classList.add("bot");
    li.append(tag("bot-label", "bot"), " ");
  }
  if (message.guest === true) {
    // Sent by someone not signed in: the handle is theirs to pick.
    li.classList.add("guest");
    li.append(tag("guest-label", "guest"), " ");
  }
  li.append(time, " ");
  const image = renderImage(message);
  if (image) {
    li.append(image, " ");
  }
  li.append(text);
  return li;
}
