"""Where the live counts' coalescing state is kept: Redis, beside the
channel layer, or, for ``runserver`` without Redis, the process's memory.

Both stores answer the same calls. The state, by kind (``"rooms"`` or
``"users"``) and id (an int, a room's or a user's primary key):

- due: id → when its flush is due (ms since the epoch); a room's id is
  its label (str), a user's their primary key (int);
- quiet: ids flushed less than ``window_ms`` ago, each until its window
  ends, so that a change in that window is due when the window ends
  (a trailing flush) and never sooner;
- sockets: each user's ``/stream/`` reply channels; a user with any is
  online (the set expires ``expiry_s`` after their last connect or
  flush, so that the sockets of a Daphne killed outright do not keep
  them online for ever);
- sent: per user, what their sockets were last sent, ``label`` → the
  payload as JSON (str), so that a flush sends only what changed;
- pending: per user, the payloads a room's fan-out computed for them
  since their last flush (``label`` → JSON), or a mark (field ``""``)
  that asks the flush to recompute all their rooms;
- generation: per user, a counter moved whenever their own counts change
  (a read mark), so that a fan-out computed before cannot overwrite what
  a later recompute found.

The Redis keys are ``<prefix>due:<kind>``, ``<prefix>quiet:<kind>:<id>``,
``<prefix>token:<label>``, and ``<prefix>sockets:``,
``sent:``, ``pending:``, ``tokens:``, ``gen:`` and ``lock:`` followed by
a user id:
a user id is digits and a label cannot contain ``:`` (``conf.LABEL_RE``),
so no two keys can collide. Each call is one round trip; ``touch``,
``take`` and ``offer`` are Lua scripts, so that two workers can never
both take the same id, nor interleave inside an offer.
"""

import threading

# touch: KEYS[1] the kind's due set, KEYS[2] the id's quiet key,
# KEYS[3] the user's socket set or "" (no check); ARGV: id, now (ms).
# Returns 1 when the id became due, 0 when it was due already or (a user)
# has no socket.
TOUCH_LUA = """
if KEYS[3] ~= "" and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
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
# window after that. An id still in its window, marked due by a bare ZADD NX
# (``mark_command``, which cannot read the quiet key), is moved to the
# window's end instead of being claimed.
TAKE_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local quiet_until = string.format('%d', now + window)
local taken = {}
for _, id in ipairs(ids) do
  local quiet = tonumber(redis.call('GET', ARGV[4] .. id) or 0)
  if quiet > now then
    redis.call('ZADD', KEYS[1], 'XX', quiet, id)
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('SET', ARGV[4] .. id, quiet_until, 'PX', 2 * window)
    taken[#taken + 1] = id
  end
end
return taken
"""


# offer: KEYS[1] the user's generation, KEYS[2] their pending hash,
# KEYS[3] their fan-out tokens; ARGV: the generation the payload was
# computed under, the label, the payload (JSON), the hashes' expiry (s),
# the fan-out's token. A payload of an older fan-out of the room than one
# offered already is dropped (two fan-outs of a room can overlap on a
# loaded machine). Otherwise it is kept for the user's next flush if no
# read mark of theirs moved since (the generation is the same), else the
# hash is marked for a full recompute (field "").
OFFER_LUA = """
local newest = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or 0)
if newest > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
local gen = redis.call('GET', KEYS[1]) or '0'
if gen == ARGV[1] then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
else
  redis.call('HSET', KEYS[2], '', '1')
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1
"""

# The pending hash's field that asks for a full recompute: no label is "".
FULL = ""


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
        self._offer = client.register_script(OFFER_LUA)

    def _key(self, *parts):
        return self.prefix + ":".join(str(part) for part in parts)

    def touch(self, kind, ids, now, online_only=False):
        """Make each of ``ids`` (iterable of int or str) of ``kind`` due now, or
        when its window ends; with ``online_only``, only the users with a
        socket. Returns how many became due (int)."""
        calls = []
        for ident in ids:
            online = self._key("sockets", ident) if online_only else ""
            keys = [self._key("due", kind), self._key("quiet", kind, ident), online]
            calls.append((keys, [ident, now]))
        if not calls:
            return 0
        if len(calls) == 1:
            # One id, as for every new message: one EVALSHA. A pipeline
            # would add redis-py's SCRIPT EXISTS before it, each time.
            keys, args = calls[0]
            return int(self._touch(keys=keys, args=args))
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            self._touch(keys=keys, args=args, client=pipe)
        return sum(int(result) for result in pipe.execute())

    def mark_command(self, kind, ident, now):
        """The Redis command (list) that makes ``ident`` (int or str) of
        ``kind`` due at ``now`` (ms) unless it is due already: a bare
        ``ZADD NX``, which can ride in another script's round trip
        (``chat.transport.Rider``). Unlike ``touch`` it does not read the
        quiet window; ``take`` moves an id still in its window to the
        window's end."""
        return ["ZADD", self._key("due", kind), "NX", now, ident]

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

    def online_among(self, user_ids):
        """Those of ``user_ids`` (list of int) with a socket (list of int)."""
        user_ids = list(user_ids)
        if not user_ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.exists(self._key("sockets", user_id))
        return [user_id for user_id, on in zip(user_ids, pipe.execute(), strict=True) if on]

    def generations(self, user_ids):
        """Each user's generation (``{user_id: str}``): a counter that
        ``bump`` moves whenever their own counts change."""
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.get(self._key("gen", user_id))
        values = pipe.execute()
        return {
            user_id: (value or b"0").decode("ascii")
            for user_id, value in zip(user_ids, values, strict=True)
        }

    def bump(self, user_id):
        """Move ``user_id``'s generation and ask for a full recompute at
        their next flush: a payload computed before is stale."""
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(self._key("gen", user_id))
        pipe.expire(self._key("gen", user_id), self.expiry_s)
        pipe.hset(self._key("pending", user_id), FULL, "1")
        pipe.expire(self._key("pending", user_id), self.expiry_s)
        pipe.execute()

    def fan_out_token(self, label):
        """A number (int) for a fan-out of the room ``label`` about to read
        the database: higher than any taken before, so that of two offers
        to one user the later fan-out's wins."""
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(self._key("token", label))
        pipe.expire(self._key("token", label), self.expiry_s)
        return int(pipe.execute()[0])

    def offer(self, offers, now, token=0):
        """Keep each of ``offers`` (``(user_id, generation, label, json)``)
        for the user's next flush unless their generation moved (then a
        full recompute is asked for instead) or a fan-out with a higher
        ``token`` (int, ``fan_out_token``) offered that room already, and
        make the users due."""
        pipe = self.client.pipeline(transaction=False)
        for user_id, generation, label, encoded in offers:
            keys = [
                self._key("gen", user_id),
                self._key("pending", user_id),
                self._key("tokens", user_id),
            ]
            args = [generation, label, encoded, self.expiry_s, token]
            self._offer(keys=keys, args=args, client=pipe)
            touch_keys = [self._key("due", "users"), self._key("quiet", "users", user_id), ""]
            self._touch(keys=touch_keys, args=[user_id, now], client=pipe)
        if offers:
            pipe.execute()

    def take_pending(self, user_id):
        """What was offered to ``user_id`` since their last flush, taken:
        ``{label: json}``, with ``FULL`` among the keys when a full
        recompute was asked for."""
        key = self._key("pending", user_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        raw, _ = pipe.execute()
        return {field.decode("utf8"): value.decode("utf8") for field, value in raw.items()}

    def lock(self, user_ids, timeout_ms):
        """Take the flush lock of each of ``user_ids`` (list of int) for at
        most ``timeout_ms``; returns those taken (list of int). Two flushes
        of one user never run at once, so that a slow one cannot send an
        older count after a newer one."""
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.set(self._key("lock", user_id), "1", nx=True, px=timeout_ms)
        taken = pipe.execute() if user_ids else []
        return [user_id for user_id, ok in zip(user_ids, taken, strict=True) if ok]

    def unlock(self, user_ids):
        """Release the flush locks of ``user_ids`` (list of int)."""
        if user_ids:
            self.client.delete(*[self._key("lock", user_id) for user_id in user_ids])

    def begin_flush(self, user_ids):
        """For each of ``user_ids`` (list of int), in one round trip: what
        was offered to them, taken (as ``take_pending``), whether they have
        a socket, and what their sockets were last sent (as ``sent``).
        Returns ``{user_id: (pending, online, sent)}``."""
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hgetall(self._key("pending", user_id))
            pipe.delete(self._key("pending", user_id))
            pipe.exists(self._key("sockets", user_id))
            pipe.hgetall(self._key("sent", user_id))
        replies = pipe.execute()
        result = {}
        for n, user_id in enumerate(user_ids):
            pending, _, online, sent = replies[4 * n : 4 * n + 4]
            result[user_id] = (_decoded(pending), bool(online), _decoded(sent))
        return result

    def record_sent_many(self, records):
        """``record_sent`` for many users in one round trip: ``records`` is
        ``{user_id: (changed, gone)}``."""
        pipe = self.client.pipeline(transaction=False)
        for user_id, (changed, gone) in records.items():
            key = self._key("sent", user_id)
            if changed:
                pipe.hmset(key, changed)
            if gone:
                pipe.hdel(key, *gone)
            pipe.expire(key, self.expiry_s)
            # A socket open for longer than the expiry keeps its user online.
            pipe.expire(self._key("sockets", user_id), self.expiry_s)
        if records:
            pipe.execute()

    def connect(self, user_id, reply_channel):
        """Note the socket ``reply_channel`` (str) of ``user_id`` (int)."""
        sockets = self._key("sockets", user_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(sockets, reply_channel)
        pipe.expire(sockets, self.expiry_s)
        pipe.delete(self._key("sent", user_id))
        pipe.execute()

    def disconnect(self, user_id, reply_channel):
        """Forget the socket; the user is offline once their last is gone
        (an empty set is no key)."""
        sockets = self._key("sockets", user_id)
        self.client.srem(sockets, reply_channel)
        if not self.client.exists(sockets):
            self.client.delete(self._key("sent", user_id))

    def is_online(self, user_id):
        """Whether ``user_id`` (int) has a socket (bool)."""
        return bool(self.client.exists(self._key("sockets", user_id)))

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


def _decoded(raw):
    """A redis-py HGETALL reply as ``{str: str}``."""
    return {field.decode("utf8"): value.decode("utf8") for field, value in raw.items()}


class LocalStore:
    """The same state in the process's memory, for ``runserver``."""

    def __init__(self, window_ms):
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._due = {"rooms": {}, "users": {}}
        self._quiet_until = {"rooms": {}, "users": {}}
        self._sockets = {}
        self._sent = {}
        self._generations = {}
        self._pending = {}
        self._tokens = {}
        self._offered = {}
        self._locked = set()

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

    def online_among(self, user_ids):
        with self._lock:
            return [user_id for user_id in user_ids if self._sockets.get(user_id)]

    def generations(self, user_ids):
        with self._lock:
            return {user_id: str(self._generations.get(user_id, 0)) for user_id in user_ids}

    def bump(self, user_id):
        with self._lock:
            self._generations[user_id] = self._generations.get(user_id, 0) + 1
            self._pending.setdefault(user_id, {})[FULL] = "1"

    def fan_out_token(self, label):
        with self._lock:
            self._tokens[label] = self._tokens.get(label, 0) + 1
            return self._tokens[label]

    def offer(self, offers, now, token=0):
        touched = []
        with self._lock:
            for user_id, generation, label, encoded in offers:
                if self._offered.get((user_id, label), 0) > token:
                    continue
                self._offered[user_id, label] = token
                pending = self._pending.setdefault(user_id, {})
                if str(self._generations.get(user_id, 0)) == generation:
                    pending[label] = encoded
                else:
                    pending[FULL] = "1"
                touched.append(user_id)
        self.touch("users", touched, now)

    def take_pending(self, user_id):
        with self._lock:
            return self._pending.pop(user_id, {})

    def lock(self, user_ids, timeout_ms):
        with self._lock:
            taken = [user_id for user_id in user_ids if user_id not in self._locked]
            self._locked.update(taken)
            return taken

    def unlock(self, user_ids):
        with self._lock:
            self._locked.difference_update(user_ids)

    def begin_flush(self, user_ids):
        result = {}
        for user_id in user_ids:
            pending = self.take_pending(user_id)
            result[user_id] = (pending, self.is_online(user_id), self.sent(user_id))
        return result

    def record_sent_many(self, records):
        for user_id, (changed, gone) in records.items():
            self.record_sent(user_id, changed, gone)

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
