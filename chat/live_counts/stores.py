"""Where the live counts' coalescing state is kept: Redis, beside the
channel layer, or, for ``runserver`` without Redis, the process's memory.

Both stores answer the same calls. The state, by kind (``"rooms"`` or
``"users"``) and id (an int, a room's or a user's primary key):

- due: id → when its flush is due (ms since the epoch); a room's id is
  its label (str), a user's their primary key (int);
- quiet: ids flushed less than ``window_ms`` ago, each until its window
  ends, so that a change in that window is due when the window ends
  (a trailing flush) and never sooner;
- online: the users with at least one ``/stream/`` socket, and each one's
  reply channels;
- sent: per user, what their sockets were last sent, ``label`` → the
  payload as JSON (str), so that a flush sends only what changed.

The Redis keys are ``<prefix>due:<kind>``, ``<prefix>quiet:<kind>:<id>``,
``<prefix>online``, ``<prefix>sockets:<user id>`` and
``<prefix>sent:<user id>``: a user id is digits and a label cannot
contain ``:`` (``conf.LABEL_RE``), so no two keys can collide.
Each call is one round trip; ``touch`` and ``take`` are Lua scripts, so
that two workers can never both take the same id.
"""

import threading

# touch: KEYS[1] the kind's due set, KEYS[2] the id's quiet key,
# KEYS[3] the online set or "" (no check); ARGV: id, now (ms).
# Returns 1 when the id became due, 0 when it was due already or (a user)
# has no socket.
TOUCH_LUA = """
if KEYS[3] ~= "" and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local due = tonumber(ARGV[2])
local quiet_until = tonumber(redis.call('GET', KEYS[2]) or 0)
if quiet_until > due then due = quiet_until end
redis.call('ZADD', KEYS[1], due, ARGV[1])
return 1
"""

# take: KEYS[1] the kind's due set; ARGV: now (ms), most ids, window (ms),
# the quiet keys' prefix. Claims the ids due by now and starts their
# windows: each quiet key holds when its window ends (ms), and expires a
# window after that.
TAKE_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local window = tonumber(ARGV[3])
local quiet_until = string.format('%d', tonumber(ARGV[1]) + window)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('SET', ARGV[4] .. id, quiet_until, 'PX', 2 * window)
end
return ids
"""


class RedisStore:
    """The coalescing state in Redis, under the key ``prefix`` (str).

    ``client`` is a redis-py client; ``window_ms`` (int) is the least time
    between two flushes of one room or one user; ``expiry_s`` (int) is how
    long a user's socket set and sent payloads outlive their last change.
    Raises what redis-py raises when Redis is unreachable."""

    def __init__(self, client, prefix, window_ms, expiry_s):
        self.client = client
        self.prefix = prefix
        self.window_ms = window_ms
        self.expiry_s = expiry_s
        self._touch = client.register_script(TOUCH_LUA)
        self._take = client.register_script(TAKE_LUA)

    def _key(self, *parts):
        return self.prefix + ":".join(str(part) for part in parts)

    def touch(self, kind, ids, now, online_only=False):
        """Make each of ``ids`` (iterable of int or str) of ``kind`` due now, or
        when its window ends; with ``online_only``, only the users with a
        socket. Returns how many became due (int)."""
        online = self._key("online") if online_only else ""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for ident in ids:
            keys = [self._key("due", kind), self._key("quiet", kind, ident), online]
            self._touch(keys=keys, args=[ident, now], client=pipe)
            count += 1
        if not count:
            return 0
        return sum(int(result) for result in pipe.execute())

    def take(self, kind, now, limit):
        """Claim up to ``limit`` (int) ids of ``kind`` due by ``now`` (ms),
        starting their windows; returns them (list of int for users, of
        str for rooms)."""
        ids = self._take(
            keys=[self._key("due", kind)],
            args=[now, limit, self.window_ms, self._key("quiet", kind) + ":"],
        )
        ids = [ident.decode("utf8") for ident in ids]
        return [int(ident) for ident in ids] if kind == "users" else ids

    def connect(self, user_id, reply_channel):
        """Note the socket ``reply_channel`` (str) of ``user_id`` (int)."""
        sockets = self._key("sockets", user_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(sockets, reply_channel)
        pipe.expire(sockets, self.expiry_s)
        pipe.sadd(self._key("online"), user_id)
        pipe.delete(self._key("sent", user_id))
        pipe.execute()

    def disconnect(self, user_id, reply_channel):
        """Forget the socket; the user leaves ``online`` with their last."""
        sockets = self._key("sockets", user_id)
        self.client.srem(sockets, reply_channel)
        if not self.client.scard(sockets):
            pipe = self.client.pipeline(transaction=True)
            pipe.srem(self._key("online"), user_id)
            pipe.delete(self._key("sent", user_id))
            pipe.execute()

    def is_online(self, user_id):
        """Whether ``user_id`` (int) has a socket (bool)."""
        return bool(self.client.sismember(self._key("online"), user_id))

    def sent(self, user_id):
        """What ``user_id``'s sockets were last sent: ``{label: json}``."""
        raw = self.client.hgetall(self._key("sent", user_id))
        return {key.decode("utf8"): value.decode("utf8") for key, value in raw.items()}

    def record_sent(self, user_id, changed, gone):
        """Record ``changed`` (``{label: json}``) as sent, and forget the
        labels in ``gone`` (list of str)."""
        key = self._key("sent", user_id)
        pipe = self.client.pipeline(transaction=True)
        if changed:
            pipe.hmset(key, changed)
        if gone:
            pipe.hdel(key, *gone)
        pipe.expire(key, self.expiry_s)
        pipe.execute()


class LocalStore:
    """The same state in the process's memory, for ``runserver``."""

    def __init__(self, window_ms):
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._due = {"rooms": {}, "users": {}}
        self._quiet_until = {"rooms": {}, "users": {}}
        self._sockets = {}
        self._sent = {}

    def touch(self, kind, ids, now, online_only=False):
        count = 0
        with self._lock:
            for ident in ids:
                if online_only and not self._sockets.get(ident):
                    continue
                if ident in self._due[kind]:
                    continue
                self._due[kind][ident] = max(now, self._quiet_until[kind].get(ident, 0))
                count += 1
        return count

    def take(self, kind, now, limit):
        with self._lock:
            due = sorted((at, ident) for ident, at in self._due[kind].items() if at <= now)
            taken = [ident for _, ident in due[:limit]]
            for ident in taken:
                del self._due[kind][ident]
                self._quiet_until[kind][ident] = now + self.window_ms
            return taken

    def connect(self, user_id, reply_channel):
        with self._lock:
            self._sockets.setdefault(user_id, set()).add(reply_channel)
            self._sent.pop(user_id, None)

    def disconnect(self, user_id, reply_channel):
        with self._lock:
            sockets = self._sockets.get(user_id, set())
            sockets.discard(reply_channel)
            if not sockets:
                self._sockets.pop(user_id, None)
                self._sent.pop(user_id, None)

    def is_online(self, user_id):
        with self._lock:
            return bool(self._sockets.get(user_id))

    def sent(self, user_id):
        with self._lock:
            return dict(self._sent.get(user_id, {}))

    def record_sent(self, user_id, changed, gone):
        with self._lock:
            sent = self._sent.setdefault(user_id, {})
            sent.update(changed)
            for label in gone:
                sent.pop(label, None)
