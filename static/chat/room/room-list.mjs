// The room list (/), for a signed-in reader: each listed room's unread
// count, who is online and its last activity, kept live from the /stream/
// socket (live-counts.mjs). Loaded by templates/chat/index.html as a
// module; the page works without it, as it was rendered.

import {followRooms} from "./live-counts.mjs";

const timeFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});

function update(list, payload) {
  const item = list.querySelector(`li.room[data-label="${CSS.escape(payload.label)}"]`);
  if (!item || payload.gone) {
    if (item) {
      item.remove();
    }
    return;
  }
  const unread = item.querySelector(".unread");
  if (unread) {
    unread.dataset.unread = String(payload.unread);
    unread.textContent = `${payload.unread} unread`;
  }
  const online = item.querySelector(".online");
  if (online && payload.online !== undefined) {
    online.textContent = `${payload.online} online`;
  }
  if (payload.mentions !== undefined) {
    // As templates/chat/index.html renders it: "2 mentions", before the unread.
    let mentions = item.querySelector(".mentions");
    if (!mentions) {
      mentions = document.createElement("span");
      mentions.className = "mentions";
      item.insertBefore(mentions, unread);
    }
    const count = Number(payload.mentions) || 0;
    mentions.dataset.mentions = String(count);
    mentions.textContent = `${count} mention${count === 1 ? "" : "s"}`;
    mentions.title = "Messages that mention you, not yet read";
    mentions.hidden = count === 0;
  }
  const activity = item.querySelector(".activity");
  // ISO 8601 in UTC, as the server writes both: later is greater.
  const shown = activity ? activity.getAttribute("datetime") || "" : null;
  if (activity && payload.last_activity && payload.last_activity > shown) {
    const time = document.createElement("time");
    time.className = "activity";
    time.setAttribute("datetime", payload.last_activity);
    time.textContent = timeFormat.format(new Date(payload.last_activity));
    activity.replaceWith(time);
    // The newest activity first, as the server lists them; on the first
    // page only, where the newest belong.
    if (list.dataset.page === "1") {
      list.prepend(item);
    }
  }
}

const list = document.querySelector("ul.rooms[data-live]");
if (list) {
  followRooms((payload) => update(list, payload));
}
