"""Who is in each room: presence, kept beside the channel layer.

docs/protocol.md ("Presence") is the contract and docs/architecture.md
("Presence") the design. In short:

- A socket joins its room's presence at connect, is renewed by each
  ``ping``, and leaves at disconnect. The connecting socket gets the
  roster at once (``join`` returns it).
- A room's changes are coalesced: they are recorded with a due time, at
  least ``WINDOW_MS`` after the room's last frame, and a flusher thread in
  each worker process (``start_flusher``) claims due rooms and sends each
  one frame, so a room gets at most one presence frame a second however
  many sockets come and go. That is what keeps a 1,000-socket room that
  connects at once from costing 1,000 × 1,000 frames.
- Daphne processes renew a heartbeat in Redis
  (``chat/transport/daphne_heartbeat.py``); the flusher takes the sockets
  of a Daphne whose heartbeat expired out of presence, since no disconnect
  will ever run for them.

Presence lives in Redis when ``REDIS_URL`` is set, else in process memory
(``runserver``); never in PostgreSQL.
"""

import json
import logging
import threading
import time

from django.conf import settings

from chat import conf, periodic
from chat.models import Room
from chat.presence.stores import LocalStore, RedisStore
from chat.transport import heartbeat_key

logger = logging.getLogger(__name__)

# Least time between two presence frames of one room, in ms: docs/protocol.md
# promises at most one a second.
WINDOW_MS = 1000
# ...and, in a room of more than 500 sockets, 2 ms more per socket, so that
# one room's presence costs at most 500 deliveries a second: a 5,000-socket
# room that connects at once gets a frame every 10 s, not every second. At
# one a second, such a storm sent 159,362 frames and took 2.7 times as long
# to connect (docs/performance.md).
SOCKET_MS = 2
# How often the flusher looks for due rooms, in seconds: a change waits at
# most this long past its due time.
FLUSH_EVERY_S = 0.2
# How often the flusher looks for dead Daphnes, in seconds. With the
# heartbeat's 20 s expiry, a dead Daphne's sockets leave every roster
# within 20 + 5 + 1 s of its last heartbeat, inside the promised 60 s.
PRUNE_EVERY_S = 5.0

_store = None
_store_lock = threading.Lock()


def store():
    """The process's presence store: a ``RedisStore`` on the channel
    sessions' Redis (which follows a Sentinel failover) when there is a
    Redis, else a ``LocalStore``."""
    global _store
    with _store_lock:
        if _store is None:
            if settings.USE_REDIS:
                from django_redis import get_redis_connection

                _store = RedisStore(
                    get_redis_connection("channel_sessions"),
                    settings.CHANNEL_LAYER_PREFIX + "presence:",
                    WINDOW_MS,
                    SOCKET_MS,
                    conf.get("CHAT_CHANNEL_SESSION_SECONDS"),
                    heartbeat_key,
                )
            else:
                _store = LocalStore(WINDOW_MS, SOCKET_MS)
        return _store


def reset_store():
    """Forget the process's store (for tests that change settings)."""
    global _store
    with _store_lock:
        _store = None


def now_ms():
    """The current time in ms since the epoch (int)."""
    return int(time.time() * 1000)


def join(room, reply_channel, handle):
    """Add the socket ``reply_channel`` (str) to ``room``'s presence as
    ``handle`` (str, or None for an anonymous socket). Returns the roster
    frame for that socket (dict, see ``roster_frame``)."""
    _, counts = store().join(room.label, reply_channel, handle or "", now_ms())
    return roster_frame(counts)


def renew(room, reply_channel, handle):
    """Renew the socket's presence (a ``ping``): adds it again if it was
    lost, as after a Redis restart. Returns True if it had been lost."""
    added, _ = store().join(room.label, reply_channel, handle or "", now_ms(), roster=False)
    return added


def leave(room, reply_channel):
    """Take the socket out of ``room``'s presence. Returns True if it was in."""
    return store().leave(room.label, reply_channel, now_ms())


def roster_frame_of(room):
    """The ``presence`` frame (dict) of ``room`` as it is now."""
    return roster_frame(store().roster(room.label))


def present_handles(room):
    """The handles present in ``room`` now (set of str): those with at
    least one open socket, anonymous sockets left out. One read of the
    store; raises what the store raises when Redis is unreachable."""
    return {
        handle for handle, sockets in store().roster(room.label).items() if handle and sockets > 0
    }


def online_counts(labels):
    """Open sockets per room: ``{label: int}`` for each of ``labels`` (list
    of str). Raises what the store raises when Redis is unreachable."""
    return store().online_counts(list(labels))


def roster_frame(counts):
    """The ``presence`` frame (dict) for a room whose counts are ``counts``
    (handle to sockets, ``""`` for anonymous sockets): the handles sorted,
    or above ``CHAT_PRESENCE_NAMES_MAX`` handles only their count."""
    members = sorted(handle for handle, sockets in counts.items() if handle and sockets > 0)
    anonymous = max(0, counts.get("", 0))
    if len(members) > conf.get("CHAT_PRESENCE_NAMES_MAX"):
        return {"type": "presence", "count": len(members), "anonymous": anonymous}
    return {"type": "presence", "members": members, "anonymous": anonymous}


def change_frame(changes, counts):
    """The one frame (dict) that tells a room's members about ``changes``
    (handle to net change since its last frame) given its ``counts`` now,
    or None when there is nothing to tell.

    A single handle that arrived or went is a ``join`` or ``leave``; any
    other mix (several handles, anonymous sockets, a handle that came and
    went within the window, or a room too large for names) is a fresh
    ``presence`` frame, which replaces the roster."""
    if not changes:
        return None
    named = [handle for handle in changes if handle]
    if len(named) == 1 and len(changes) == 1 and changes[named[0]] != 0:
        frame = roster_frame(counts)
        if "members" in frame:
            kind = "join" if changes[named[0]] > 0 else "leave"
            return {"type": kind, "handle": named[0]}
        return frame
    return roster_frame(counts)


def flush_due(now=None):
    """Send each room whose presence frame is due its one frame. ``now`` is
    in ms (default: the clock). Returns the number of frames sent (int)."""
    now = now_ms() if now is None else now
    presence = store()
    sent = 0
    for label in presence.due(now):
        taken = presence.take(label, now)
        if taken is None:
            continue
        frame = change_frame(*taken)
        if frame is not None:
            _send_to_room(label, frame)
            sent += 1
    return sent


def prune(now=None):
    """Take the sockets of dead Daphnes out of presence; returns how many."""
    return store().prune(now_ms() if now is None else now)


def _send_to_room(label, frame):
    # An unsaved Room names its Group without a query.
    Room(label=label).presence_group.send({"text": json.dumps(frame)}, immediately=True)


def start_flusher():
    """Start this process's flusher thread, once (``chat.periodic``): it
    sends due presence frames every ``FLUSH_EVERY_S`` and prunes dead
    Daphnes every ``PRUNE_EVERY_S`` seconds. Called when a worker starts
    (the ``worker_ready`` signal, in ``runworker`` and ``runserver``
    alike). Returns the thread."""
    return periodic.start("presence-flusher", _flush_step, FLUSH_EVERY_S)


# When the flusher prunes next (time.monotonic(), s).
_next_prune = time.monotonic() + PRUNE_EVERY_S


def _flush_step():
    global _next_prune
    flush_due()
    if time.monotonic() >= _next_prune:
        _next_prune = time.monotonic() + PRUNE_EVERY_S
        removed = prune()
        if removed:
            logger.info("Took %d sockets of dead Daphne processes out of presence", removed)
