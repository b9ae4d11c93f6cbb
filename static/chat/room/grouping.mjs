// How the room lays out its messages, as rules with no DOM: which message
// continues the group of the one before it (one header, name and time,
// for a run of messages from one author), and where a new day begins, in
// the reader's own time zone. message-list.mjs applies them to the page,
// to the history the server rendered and to every message added later
// alike; tests/js/grouping.test.mjs proves them.
//
// A message here is what the rules read of one: {handle (string), guest
// and bot (booleans), time (ms since the epoch)}.

// How long after the message before it a message from the same author
// still joins its group, ms: five minutes, as Slack and Zulip group.
export const GROUP_WITHIN_MS = 5 * 60 * 1000;

// The reader's calendar day of `time` (ms since the epoch), as a string
// that is equal for two times of the same local day.
export function localDay(time) {
  const date = new Date(time);
  return date.getFullYear() + "-" + date.getMonth() + "-" + date.getDate();
}

// Whether `previous` and `message` were sent on the same day, in the
// reader's time zone.
export function sameDay(previous, message) {
  return localDay(previous.time) === localDay(message.time);
}

// Whether `message` continues the group of `previous`, the message shown
// just before it (null for none): the same author (the same handle, and
// both a guest's or both not, both a bot's or both not; a guest may pick
// a member's name, and a bot post under any), on the same day, at most
// GROUP_WITHIN_MS later. A time that cannot be read starts a group.
export function continues(previous, message) {
  if (!previous) {
    return false;
  }
  const elapsed = message.time - previous.time;
  return previous.handle === message.handle &&
    previous.guest === message.guest &&
    previous.bot === message.bot &&
    Number.isFinite(elapsed) && elapsed >= 0 && elapsed <= GROUP_WITHIN_MS &&
    sameDay(previous, message);
}

const weekdayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "long", month: "long", day: "numeric"
});
const yearFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "long", month: "long", day: "numeric", year: "numeric"
});

// What the separator before the first message of a day says: "Today",
// "Yesterday", else the date ("Monday, December 1"), with the year when
// it is not this one. `time` and `now` are ms since the epoch.
export function dayLabel(time, now = Date.now()) {
  const day = localDay(time);
  if (day === localDay(now)) {
    return "Today";
  }
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === localDay(yesterday.getTime())) {
    return "Yesterday";
  }
  const sameYear = new Date(time).getFullYear() === new Date(now).getFullYear();
  return (sameYear ? weekdayFormat : yearFormat).format(new Date(time));
}
