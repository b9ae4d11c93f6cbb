"""Where presence is kept: Redis, beside the channel layer, or, for
``runserver`` without Redis, the process's own memory.

Both stores keep the same state and answer the same calls; the Redis one
does each call in one round trip, as a Lua script (``scripts/*.lua``, which
document their keys), so that concurrent workers cannot interleave inside
one. The state of a room, by ``label``:

- its sockets: reply channel → handle (``""`` for an anonymous socket);
- counts: handle → how many of its sockets are present;
- changes: handle → the net change since the room's last presence frame
  (+1 a handle's first socket arrived, −1 its last one went, 0 both;
  anonymous sockets count one by one under ``""``);
- when its next frame is due, and before when no frame may be due (ms):
  the window after each frame is ``window_ms``, or ``socket_ms`` per socket
  present when that is longer, so a room's frames cost at most
  1,000 / ``socket_ms`` deliveries a second, whatever its size.

Times are milliseconds since the epoch (int), passed in by the caller.

The Redis keys are ``<prefix><part>:<label>`` (and ``<prefix>due``,
``<prefix>daphnes``), and a Daphne's set holds ``<label>\n<reply
channel>``. No two rooms can share a key, nor can an entry be split in the
wrong place: a label cannot contain ``:`` or a newline (``conf.LABEL_RE``),
and no part name is the start of another.
"""

import collections
import threading
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"


def _script(name):
    return (SCRIPTS_DIR / name).read_text()


def _pairs(flat):
    """A Redis reply of alternating keys and values (bytes), as a list or
    as redis-py's HGETALL dict, as a dict of str to int."""
    items = flat.items() if isinstance(flat, dict) else zip(flat[::2], flat[1::2], strict=True)
    return {key.decode("utf8"): int(value) for key, value in items}


def daphne_of(reply_channel):
    """The Daphne process's response channel (str) that ``reply_channel``
    (str, ``daphne.response.<process>!<socket>``) belongs to."""
    return reply_channel.split("!", 1)[0] + "!"


class RedisStore:
    """Presence in Redis, under the key ``prefix`` (str).

    ``client`` is a redis-py client; ``window_ms`` (int) is the least time
    between two presence frames of one room, and ``socket_ms`` (int) the
    time added to it per socket present; ``expiry_s`` (int) is how long
    a room's keys outlive its last change; ``alive_key(daphne)`` gives the
    key of a Daphne's heartbeat. Raises what redis-py raises when Redis is
    unreachable.
    """

    lua_join = _script("join.lua")
    lua_leave = _script("leave.lua")
    lua_take = _script("take.lua")
    lua_prune = _script("prune.lua")

    def __init__(self, client, prefix, window_ms, socket_ms, expiry_s, alive_key):
        self.client = client
        self.prefix = prefix
        self.window_ms = window_ms
        self.socket_ms = socket_ms
        self.expiry_s = expiry_s
        self.alive_key = alive_key
        self._join = client.register_script(self.lua_join)
        self._leave = client.register_script(self.lua_leave)
        self._take = client.register_script(self.lua_take)
        self._prune = client.register_script(self.lua_prune)

    def _room_keys(self, label):
        return [self.prefix + part + label for part in ("sockets:", "counts:", "changes:")]

    def _change_keys(self, label):
        # KEYS[1] to KEYS[5] of join.lua and leave.lua, which both record a
        # change and schedule the room's frame.
        return self._room_keys(label) + [self.prefix + "due", self.prefix + "quiet:" + label]

    def join(self, label, reply_channel, handle, now_ms, roster=True):
        """Add (or renew) a socket. Returns ``(added, counts)``: whether it
        was new (bool), and the room's counts (dict of handle to sockets)
        when ``roster`` is true, else None."""
        daphne = daphne_of(reply_channel)
        reply = self._join(
            keys=self._change_keys(label)
            + [self.prefix + "daphnes", self.prefix + "daphne-sockets:" + daphne],
            args=[
                reply_channel,
                handle,
                label,
                now_ms,
                self.expiry_s,
                daphne,
                "1" if roster else "0",
            ],
        )
        return bool(reply[0]), (_pairs(reply[1:]) if roster else None)

    def leave(self, label, reply_channel, now_ms):
        """Remove a socket. Returns True if it was present."""
        removed = self._leave(
            keys=self._change_keys(label)
            + [self.prefix + "daphne-sockets:" + daphne_of(reply_channel)],
            args=[reply_channel, label, now_ms, self.expiry_s],
        )
        return bool(removed)

    def due(self, now_ms, limit=100):
        """Up to ``limit`` labels (list of str) whose presence frame is due."""
        labels = self.client.zrangebyscore(self.prefix + "due", "-inf", now_ms, 0, limit)
        return [label.decode("utf8") for label in labels]

    def take(self, label, now_ms):
        """Claim a due room and take its changes. Returns ``(changes,
        counts)`` (dicts of handle to int), or None when the room is not due
        or another caller claimed it first."""
        sockets, counts, changes = self._room_keys(label)
        reply = self._take(
            keys=[self.prefix + "due", changes, counts, self.prefix + "quiet:" + label, sockets],
            args=[label, now_ms, self.window_ms, self.socket_ms],
        )
        if not reply:
            return None
        return _pairs(reply[0]), _pairs(reply[1])

    def prune(self, now_ms):
        """Take out every socket of every Daphne whose heartbeat expired.
        Returns how many sockets were taken out (int)."""
        removed = 0
        for daphne in self.client.smembers(self.prefix + "daphnes"):
            daphne = daphne.decode("utf8")
            removed += self._prune(
                keys=[
                    self.prefix + "daphnes",
                    self.prefix + "daphne-sockets:" + daphne,
                    self.alive_key(daphne),
                    self.prefix + "due",
                ],
                args=[daphne, self.prefix, now_ms, self.expiry_s],
            )
        return removed

    def roster(self, label):
        """The room's counts now: a dict of handle to sockets."""
        return _pairs(self.client.hgetall(self.prefix + "counts:" + label))

    def online_counts(self, labels):
        """Open sockets per room: a dict of each of ``labels`` to an int, in
        one round trip."""
        pipeline = self.client.pipeline(transaction=False)
        for label in labels:
            pipeline.hlen(self.prefix + "sockets:" + label)
        return dict(zip(labels, pipeline.execute(), strict=True))


class LocalStore:
    """Presence in this process's memory, for ``runserver`` (one process, so
    no Daphne can die apart from the workers) and the unit tests. Takes the
    same calls as ``RedisStore``, guarded by a lock; keeps no expiry."""

    def __init__(self, window_ms, socket_ms):
        self.window_ms = window_ms
        self.socket_ms = socket_ms
        self._lock = threading.Lock()
        self._sockets = collections.defaultdict(dict)
        self._counts = collections.defaultdict(collections.Counter)
        self._changes = collections.defaultdict(collections.Counter)
        self._due = {}
        self._quiet = {}

    def _schedule(self, label, handle, delta, now_ms):
        self._changes[label][handle] += delta
        self._due.setdefault(label, max(now_ms, self._quiet.get(label, 0)))

    def join(self, label, reply_channel, handle, now_ms, roster=True):
        """As ``RedisStore.join``."""
        with self._lock:
            added = reply_channel not in self._sockets[label]
            if added:
                self._sockets[label][reply_channel] = handle
                self._counts[label][handle] += 1
                if handle == "" or self._counts[label][handle] == 1:
                    self._schedule(label, handle, +1, now_ms)
            return added, (dict(self._counts[label]) if roster else None)

    def leave(self, label, reply_channel, now_ms):
        """As ``RedisStore.leave``."""
        with self._lock:
            handle = self._sockets[label].pop(reply_channel, None)
            if handle is None:
                return False
            counts = self._counts[label]
            counts[handle] -= 1
            if counts[handle] <= 0:
                del counts[handle]
            if handle == "" or handle not in counts:
                self._schedule(label, handle, -1, now_ms)
            return True

    def due(self, now_ms, limit=100):
        """As ``RedisStore.due``."""
        with self._lock:
            return [label for label, due in self._due.items() if due <= now_ms][:limit]

    def take(self, label, now_ms):
        """As ``RedisStore.take``."""
        with self._lock:
            due = self._due.get(label)
            if due is None or due > now_ms:
                return None
            del self._due[label]
            changes = dict(self._changes.pop(label, {}))
            window = max(self.window_ms, len(self._sockets.get(label, ())) * self.socket_ms)
            self._quiet[label] = now_ms + window
            return changes, dict(self._counts[label])

    def prune(self, now_ms):
        """No Daphne of this process can die on its own: returns 0."""
        return 0

    def roster(self, label):
        """As ``RedisStore.roster``."""
        with self._lock:
            return dict(self._counts.get(label, {}))

    def online_counts(self, labels):
        """As ``RedisStore.online_counts``."""
        with self._lock:
            return {label: len(self._sockets.get(label, ())) for label in labels}
