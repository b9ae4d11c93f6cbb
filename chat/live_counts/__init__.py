"""Live counts: each signed-in user's rooms, their unread counts and last
activity, pushed to the user's ``/stream/`` sockets (chat/stream.py) on
its ``rooms`` stream when they change. docs/protocol.md ("The /stream/
socket") is the contract and docs/architecture.md ("Live counts") the
design. In short:

- Events only mark things due: a message stored or deleted in a room,
  or a presence frame sent to it (``room_changed``), marks the room; a
  read mark that moved (``user_changed``) marks the user. Each costs one Redis round trip in
  the request or consumer that caused it, whatever the room's size.
- A flusher thread in each worker process (``start_flusher``) claims due
  rooms and fans each one out (``fan_out``): one query computes the
  room's payload for every follower with a socket who may read it, and
  each is offered to that follower, who becomes due. Then it claims due
  users and sends each one's changed rooms to the Group
  ``stream.user.<id>`` (``group_name``, ``flush_user``): what was offered,
  or, after their own read mark moved, all their rooms recomputed.
- A room or a user claimed is quiet for ``WINDOW_MS``: a change within
  that window makes it due when the window ends, not before. So a socket
  gets at most one flush a second however busy its rooms are, and the
  last change is always flushed (trailing): a count is never left stale
  once activity stops. A flush reads the numbers from the database when
  it runs, so it carries the latest ones.

The state lives in Redis when ``REDIS_URL`` is set, else in process memory
(``runserver``). Access is decided by ``selectors.followed_rooms``, which
asks ``selectors.readable_rooms`` at every flush.
"""

import functools
import json
import logging
import threading
import time

from channels import Group
from django.conf import settings
from django.contrib.auth import get_user_model

from chat import conf, periodic, presence, selectors
from chat.live_counts.stores import FULL, LocalStore, RedisStore
from chat.models import Room, iso_time
from chat.transport import Rider

logger = logging.getLogger(__name__)

# The stream's name on the /stream/ socket (docs/protocol.md).
STREAM = "rooms"
# Least time between two flushes of one user's sockets, and between two
# fan-outs of one room, in ms: docs/protocol.md promises at most one flush
# a second per socket.
WINDOW_MS = 1000
# How often the flusher looks for due rooms and users, in seconds: a change
# waits at most this long past its due time.
FLUSH_EVERY_S = 0.2
# The longest one flush of a batch of users may hold their flush locks,
# in ms: far longer than a flush takes, and what a flusher that died
# mid-flush delays its users by.
LOCK_MS = 30_000
# The most rooms, and users, one flusher step claims (a bound on one step's
# time; the rest stay due for the next step or another worker).
TAKE_MAX = 500

_store = None
_store_lock = threading.Lock()


def store():
    """The process's store: a ``RedisStore`` on the channel sessions' Redis
    when there is a Redis, else a ``LocalStore``."""
    global _store
    with _store_lock:
        if _store is None:
            if settings.USE_REDIS:
                from django_redis import get_redis_connection

                _store = RedisStore(
                    get_redis_connection("channel_sessions"),
                    settings.CHANNEL_LAYER_PREFIX + "counts:",
                    WINDOW_MS,
                    conf.get("CHAT_CHANNEL_SESSION_SECONDS"),
                )
            else:
                _store = LocalStore(WINDOW_MS)
        return _store


def reset_store():
    """Forget the process's store (for tests that change settings)."""
    global _store
    with _store_lock:
        _store = None


def now_ms():
    """The current time in ms since the epoch (int)."""
    return int(time.time() * 1000)


def group_name(user_id):
    """The Group name (str) of the ``/stream/`` sockets of the user
    ``user_id`` (int): ``stream.user.<id>``. No room's Group starts with
    ``stream.`` (they are ``chat.<label>…``)."""
    return "stream.user.%d" % user_id


def group(user_id):
    """The ``channels.Group`` of ``group_name(user_id)``."""
    return Group(group_name(user_id))


def mention_counts(user, rooms):
    """Mentions of ``user`` past their read mark, per room: ``{room_id:
    int}`` for ``rooms`` (list of ``Room``), rooms without any left out
    (``selectors.mention_counts``, one query). The one place the live
    counts learn about mentions."""
    return selectors.mention_counts(user, rooms)


def payloads(user):
    """The ``rooms`` stream's payloads for ``user`` (a Django user), one
    per room they follow (``selectors.followed_rooms``), as a dict
    ``{label: payload}``; each payload is a dict: ``label`` (str),
    ``name`` (str), ``unread`` (int), ``mentions`` (int),
    ``last_activity`` (ISO 8601 str in UTC, or None) and ``online`` (int,
    sockets in the room; left out when presence cannot be read). Two
    queries (the rooms, the mentions) and one presence read."""
    rooms = selectors.followed_rooms(user)
    mentions = mention_counts(user, rooms)
    try:
        online = presence.online_counts([room.label for room in rooms]) if rooms else {}
    except Exception:  # noqa: BLE001 - counts without presence beat none
        logger.warning("Could not read presence for live counts", exc_info=True)
        online = None
    result = {}
    for room in rooms:
        payload = {"label": room.label, "name": room.name, "unread": room.unread}
        payload["mentions"] = mentions.get(room.pk, 0)
        payload["last_activity"] = iso_time(room.last_activity) if room.last_activity else None
        if online is not None:
            payload["online"] = online.get(room.label, 0)
        result[room.label] = payload
    return result


def frame(payload):
    """The reply-channel message (dict) carrying ``payload`` (a dict, or
    its JSON as str) on the ``rooms`` stream: ``{"text": '{"stream":
    "rooms", "payload": …}'}``."""
    encoded = payload if isinstance(payload, str) else json.dumps(payload)
    return {"text": '{"stream": "%s", "payload": %s}' % (STREAM, encoded)}


def encode(payload):
    """``payload`` (dict) as the JSON (str) that is compared and sent."""
    return json.dumps(payload, sort_keys=True)


def room_changed(label):
    """Note that the room labelled ``label`` (str) gained or lost a
    message, or someone came or went: its followers' counts are flushed
    within a second. Never raises: a failure is logged, and the counts
    catch up at the next change."""
    _touch("rooms", [label], online_only=False)


def room_changed_rider(label):
    """``room_changed`` for the room labelled ``label`` (str), as a
    ``chat.transport.Rider``: a write that rides in the room's broadcast,
    costing no round trip of its own, and that falls back to
    ``room_changed`` where it cannot ride (``runserver``'s in-process
    store). Never raises."""
    counts = store()
    mark = getattr(counts, "mark_command", None)
    if mark is None:
        return Rider([], functools.partial(room_changed, label))
    return Rider(mark("rooms", label, now_ms()), functools.partial(room_changed, label))


def user_changed(user_id):
    """Note that the user ``user_id``'s (int) counts changed (their read
    mark moved, they joined or left a room): all their rooms are
    recomputed and flushed within a second if they have a ``/stream/``
    socket. Never raises, as ``room_changed``."""
    _touch("users", [user_id], online_only=True, bump=True)


def _touch(kind, ids, online_only, bump=False):
    try:
        counts = store()
        if bump:
            for ident in ids:
                counts.bump(ident)
        counts.touch(kind, ids, now_ms(), online_only=online_only)
    except Exception:  # noqa: BLE001 - a count must never fail a message
        logger.warning("Could not note a change of %s %s for live counts", kind, ids, exc_info=True)


def connect(user, reply_channel):
    """Add the socket ``reply_channel`` (a ``channels.Channel``) of
    ``user`` (a signed-in Django user) to their Group and send it the
    snapshot: one frame per room they follow. Raises what the store and
    the database raise."""
    group(user.pk).add(reply_channel)
    store().connect(user.pk, reply_channel.name)
    # Not immediately: inside the connect consumer, after its accept.
    for payload in payloads(user).values():
        reply_channel.send(frame(payload))


def disconnect(user_id, reply_channel):
    """Take the socket out of its user's Group and the store."""
    group(user_id).discard(reply_channel)
    store().disconnect(user_id, reply_channel.name)


def flush_user(user_id):
    """``flush_users`` for one user ``user_id`` (int); returns the number
    of frames sent (int)."""
    return flush_users([user_id])


def flush_users(user_ids):
    """Send each of ``user_ids``' (list of int) sockets a frame for each
    room whose payload changed since their last flush: those a fan-out
    offered them, or, when a full recompute was asked for (their read mark
    moved, a room was gained or lost, nothing offered), all their rooms
    from the database, with one ``{"label": …, "gone": true}`` for each
    room they no longer follow (they lost it, say). A user without a
    socket is skipped. Two Redis round trips for the lot, one Group send
    per frame, and the queries of ``payloads`` for each full recompute.
    Returns the number of frames sent (int)."""
    counts = store()
    user_ids = list(user_ids)
    locked = counts.lock(user_ids, LOCK_MS)
    busy = [user_id for user_id in user_ids if user_id not in locked]
    if busy:
        # Flushed elsewhere right now: again once that is done.
        counts.touch("users", busy, now_ms() + WINDOW_MS)
    try:
        return _flush_locked(counts, locked)
    except Exception:
        # What was taken would be lost: recompute it all at the next flush.
        for user_id in locked:
            counts.bump(user_id)
        counts.touch("users", locked, now_ms() + WINDOW_MS)
        raise
    finally:
        counts.unlock(locked)


def _flush_locked(counts, user_ids):
    state = counts.begin_flush(user_ids)
    records = {}
    frames = 0
    for user_id, (pending, online, before) in state.items():
        if not online:
            continue
        gone = []
        if pending and FULL not in pending:
            current = pending
        else:
            user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
            current = {} if user is None else payloads(user)
            current = {label: encode(payload) for label, payload in current.items()}
            gone = [label for label in before if label not in current]
        changed = {
            label: encoded for label, encoded in current.items() if before.get(label) != encoded
        }
        target = group(user_id)
        for encoded in changed.values():
            target.send(frame(encoded), immediately=True)
        for label in gone:
            target.send(frame({"label": label, "gone": True}), immediately=True)
        if changed or gone:
            records[user_id] = (changed, gone)
            frames += len(changed) + len(gone)
    counts.record_sent_many(records)
    return frames


def fan_out(label, now=None):
    """Offer the room labelled ``label`` (str)'s payload to each of its
    followers (``selectors.followers``) who has a socket and may read it
    (``selectors.room_counts``, which asks ``selectors.readers``), and make
    them due; a follower who may not read it is asked for a full
    recompute, which drops the room from their list. Three queries and
    one presence read whatever the number of followers. Returns how many
    payloads were offered (int)."""
    now = now_ms() if now is None else now
    counts = store()
    online = counts.online_among(selectors.followers(label))
    if not online:
        return 0
    # Taken before anything is read: an overlapping older fan-out of the
    # room cannot overwrite what this one offers.
    token = counts.fan_out_token(label)
    generations = counts.generations(online)
    room = Room.objects.filter(label=label).first()
    if room is None:
        return 0
    per_user = selectors.room_counts(room, online)
    try:
        here = presence.online_counts([label]).get(label, 0)
    except Exception:  # noqa: BLE001 - counts without presence beat none
        logger.warning("Could not read presence for live counts", exc_info=True)
        here = None
    activity = iso_time(room.last_activity) if room.last_activity else None
    offers = []
    for user_id in online:
        if user_id not in per_user:
            counts.bump(user_id)
            continue
        unread, mentions = per_user[user_id]
        payload = {"label": label, "name": room.name, "unread": unread, "mentions": mentions}
        payload["last_activity"] = activity
        if here is not None:
            payload["online"] = here
        offers.append((user_id, generations[user_id], label, encode(payload)))
    counts.offer(offers, now, token)
    counts.touch("users", [u for u in online if u not in per_user], now)
    return len(offers)


def flush_due(now=None):
    """Fan out each due room (``fan_out``), then flush each due user
    (``flush_users``). ``now`` in ms (default: the clock). Returns the
    number of frames sent (int)."""
    now = now_ms() if now is None else now
    counts = store()
    for label in counts.take("rooms", now, TAKE_MAX):
        try:
            fan_out(label, now)
        except Exception:
            # Taken and not done: due again once its window ends.
            counts.touch("rooms", [label], now)
            raise
    return flush_users(counts.take("users", now, TAKE_MAX))


def start_flusher():
    """Start this process's flusher thread, once (``chat.periodic``),
    flushing due rooms and users every ``FLUSH_EVERY_S``. Called when a
    worker starts (``worker_ready``). Returns the thread."""
    return periodic.start("live-counts-flusher", flush_due, FLUSH_EVERY_S)
