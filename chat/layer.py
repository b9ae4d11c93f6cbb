"""The project's Redis channel layer: ``ChatChannelLayer``.

It is asgi_redis 1.4.3's ``RedisChannelLayer`` with its delivery paths
rewritten so that one Daphne keeps up with a busy room and no message is
dropped without being counted and logged. docs/channel-layer.md describes the
design: entry formats, Lua scripts, round trips, capacities and statistics.
"""

import collections
import logging
import random
import re
import time
import uuid

import redis
import txredisapi
from asgi_redis import RedisChannelLayer
from twisted.internet import defer

logger = logging.getLogger(__name__)

# Separates a shared body's key from the member channel in a Group entry. It
# can occur in neither a channel name (asgiref's channel_name_regex) nor, as
# __init__ enforces, the key prefix, so the first one found is the separator.
ENTRY_SEPARATOR = "|"

# Characters that stand for themselves in a Lua pattern; any other ASCII
# character is escaped with "%", which Lua allows for every non-alphanumeric.
_LUA_PLAIN = re.compile(r"[A-Za-z0-9]")

# One UTF-8 encoded character as a Lua (byte) pattern: a byte that does not
# continue a character, then the bytes (0x80-0xBF) that continue it.
_LUA_ONE_CHARACTER = b"[^\x80-\xbf][\x80-\xbf]*"


def glob_to_lua_pattern(glob):
    """Translate a ``channel_capacity`` glob to an anchored Lua pattern.

    Takes ``glob`` (str), a shell-style pattern as ``fnmatch`` reads it (``*``,
    ``?``, ``[seq]``, ``[!seq]``), and returns bytes: a Lua pattern matching
    the UTF-8 encoding of exactly the names that
    ``re.compile(fnmatch.translate(glob)).match`` matches, which is how
    ``asgiref.base_layer.BaseChannelLayer.compile_capacities`` reads globs.
    The bracket scan follows ``fnmatch.translate`` (Python 3.11). Returns None
    for what the translation does not cover: a bracket set holding a
    non-ASCII character, or a range whose ends are not two ASCII letters or
    digits in order.
    """
    out = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            if not out or out[-1] != b".*":
                out.append(b".*")
        elif char == "?":
            out.append(_LUA_ONE_CHARACTER)
        elif char == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(b"%[")
                continue
            translated = _lua_set(glob[i:j])
            if translated is None:
                return None
            out.append(translated)
            i = j + 1
        elif _LUA_PLAIN.match(char) or ord(char) > 127:
            out.append(char.encode("utf8"))
        else:
            out.append(b"%" + char.encode("ascii"))
    return b"^" + b"".join(out) + b"$"


def _lua_set(members):
    """The Lua pattern (bytes) for the fnmatch bracket set whose text between
    the brackets is ``members`` (str), or None if it cannot be translated."""
    negated = members.startswith("!")
    if negated:
        members = members[1:]
    if any(ord(char) > 127 for char in members):
        return None
    parts = []
    k = 0
    while k < len(members):
        if k + 2 < len(members) and members[k + 1] == "-":
            low, high = members[k], members[k + 2]
            if not (_LUA_PLAIN.match(low) and _LUA_PLAIN.match(high) and low <= high):
                return None
            parts.append("%s-%s" % (low, high))
            k += 3
        else:
            char = members[k]
            parts.append(char if _LUA_PLAIN.match(char) else "%" + char)
            k += 1
    if not parts:
        return None
    body = "".join(parts).encode("ascii")
    if negated:
        # One whole character outside the set: its first byte is neither in
        # the (ASCII) set nor a continuation byte.
        return b"[^" + body + b"\x80-\xbf][\x80-\xbf]*"
    return b"[" + body + b"]"


class ChatChannelLayer(RedisChannelLayer):
    """asgi_redis's ``RedisChannelLayer`` that batches receives, sends to a
    Group in one Redis round trip per shard and counts every overflow.

    Takes the parent's arguments (``expiry`` and ``group_expiry`` in seconds,
    ``capacity`` in messages per channel, ``hosts``, ``prefix``,
    ``channel_capacity``, ``symmetric_encryption_keys``, ``stats_prefix``,
    ``connection_kwargs``) plus ``receive_batch_size`` (messages taken per
    round trip from a process-local channel). ``channel_capacity`` entries
    come first and ``default_channel_capacity`` fills in the patterns they do
    not name; ``capacity`` applies to a channel no pattern matches.

    Raises ``ValueError`` for a ``prefix`` containing ``ENTRY_SEPARATOR``, and
    whatever the parent raises for bad hosts, keys or timeouts.

    What changes from the parent, all in docs/channel-layer.md:

    * ``receive`` and ``receive_twisted`` run one Lua script that pops, reads
      and deletes up to ``receive_batch_size`` messages of a process-local
      channel per round trip and keep the extras in-process; Twisted mode
      keeps one connection per shard open instead of one pool per message.
    * ``group_add`` files a member on its own channel's shard, so that
      ``send_group`` is one Lua script per shard storing one shared body.
    * ``send`` is one round trip (the parent needs two) and, like
      ``send_group``, counts and logs a full channel.
    """

    # Messages per channel, by fnmatch glob on the channel's non-local name,
    # for the patterns the user's channel_capacity does not name. All of one
    # Daphne's sockets share the "daphne.response.<process>!" list, so it must
    # hold a broadcast to every member of the biggest room that Daphne serves
    # (1,000 sockets) many times over: 50 such broadcasts queued at once, about
    # 4 MB of list entries (Redis MEMORY USAGE), drained by one Daphne in seconds (see
    # docs/channel-layer.md), well inside the 60-second message expiry.
    # The other figures are the ones chat/settings.py has used with the stock
    # layer: a few seconds of a busy site's requests and frames.
    default_channel_capacity = {
        "daphne.response*": 50000,
        "http.request": 1000,
        "websocket.connect": 2000,
        "websocket.receive": 2000,
        "websocket.disconnect": 2000,
    }

    # Most messages one receive round trip takes from a process-local channel.
    # Measured on a 2-core box (docs/channel-layer.md): past 100, delivery
    # got no faster, while each script run (which blocks Redis) got longer.
    receive_batch_size = 100
    # Seconds ``receive`` waits after finding Redis unreachable: long enough
    # not to spin on a dead server, short against a restart's downtime.
    unreachable_wait = 1.0

    # Most members named in a full-channel warning; the count is always whole.
    warn_members_shown = 10

    STAT_GROUP_FULL = "group_full_count"
    group_stats_key = "#group#"  # a "#" can be in no channel or group name

    def __init__(
        self,
        expiry=60,
        hosts=None,
        prefix="asgi:",
        group_expiry=86400,
        capacity=100,
        channel_capacity=None,
        symmetric_encryption_keys=None,
        stats_prefix="asgi-meta:",
        connection_kwargs=None,
        receive_batch_size=None,
    ):
        if ENTRY_SEPARATOR in prefix:
            raise ValueError("The prefix must not contain %r" % ENTRY_SEPARATOR)
        capacities = dict(channel_capacity or {})
        for pattern, value in self.default_channel_capacity.items():
            capacities.setdefault(pattern, value)
        super().__init__(
            expiry=expiry,
            hosts=hosts,
            prefix=prefix,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=capacities,
            symmetric_encryption_keys=symmetric_encryption_keys,
            stats_prefix=stats_prefix,
            connection_kwargs=connection_kwargs,
        )
        if receive_batch_size is not None:
            self.receive_batch_size = int(receive_batch_size)
        self._prefix_length = len(prefix.encode("utf8"))
        self._lua_capacities = self._lua_capacity_table(capacities)
        # Messages taken in a batch but not yet returned, by the process-local
        # channel (e.g. "daphne.response.abc!") they were received from.
        self._buffered = collections.defaultdict(collections.deque)
        self._twisted_connections = {}

    def _lua_capacity_table(self, capacities):
        """The ``channel_capacity`` table as a flat list of Lua pattern and
        capacity (messages) pairs in match order, or None when an entry is a
        compiled regex or a glob ``glob_to_lua_pattern`` cannot translate."""
        table = []
        for pattern, value in capacities.items():
            if hasattr(pattern, "match"):
                return None
            lua_pattern = glob_to_lua_pattern(pattern)
            if lua_pattern is None:
                return None
            table.extend([lua_pattern, int(value)])
        return table

    def _register_scripts(self):
        """Register the parent's Lua scripts and this layer's own."""
        super()._register_scripts()
        connection = self.connection(None)
        self.chatsend = connection.register_script(self.lua_send)
        self.chatreceive = connection.register_script(self.lua_receive)
        self.chatsendgroup = connection.register_script(self.lua_send_group)

    ### ASGI API ###

    def send(self, channel, message):
        """Send ``message`` (dict) to ``channel`` (str) in one round trip.

        Returns None. Raises ``ChannelFull`` when the channel's list already
        holds its capacity (messages); that is counted in the statistics as
        ``channel_full_count`` and logged at WARNING. The entry is the parent's
        (a body key, with ``__asgi_channel__`` in the body of a process-local
        message), so a parent layer can receive it as well.
        """
        assert isinstance(message, dict), "message is not a dict"
        assert self.valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        list_name = channel
        if "!" in channel:
            message = dict(message.items())
            message["__asgi_channel__"] = channel
            list_name = self.non_local_name(channel)
        if "!" in list_name or "?" in list_name:
            index = self.consistent_hash(list_name)
        else:
            index = next(self._send_index_generator)
        capacity = self.get_capacity(list_name)
        sent = self.chatsend(
            keys=[
                self.prefix + uuid.uuid4().hex,
                self.prefix + list_name,
                self._stat_key(list_name, self.STAT_MESSAGES_COUNT),
                self._stat_key(self.global_stats_key, self.STAT_MESSAGES_COUNT),
                self._stat_key(list_name, self.STAT_CHANNEL_FULL),
                self._stat_key(self.global_stats_key, self.STAT_CHANNEL_FULL),
            ],
            args=[
                self.serialize(message),
                self.expiry,
                capacity,
                self.channel_statistics_expiry,
                self.global_statistics_expiry,
            ],
            client=self.connection(index),
        )
        if not sent:
            logger.warning(
                "Channel %s is full (%s messages waiting); the message was refused",
                channel,
                capacity,
            )
            raise self.ChannelFull(channel)

    def receive(self, channels, block=False):
        """Take one message from any of ``channels`` (list of str).

        Returns ``(channel, message)``, or ``(None, None)`` when nothing is
        waiting (with ``block``, after up to ``blpop_timeout`` seconds per
        shard). A process-local channel (ending in "!") gives up to
        ``receive_batch_size`` messages per round trip; the rest are returned
        by the next calls, in order. Bodies are deleted as they are taken.
        Raises ``TypeError`` for an invalid channel name.

        While Redis is unreachable (restarting, say) it logs a warning, waits
        ``unreachable_wait`` seconds and returns ``(None, None)`` instead of
        raising, so a worker's loop outlives the outage and picks up again
        when Redis is back; redis-py reconnects by itself.
        """
        try:
            return self._receive(channels, block)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            logger.warning("Redis unreachable (%s); receiving again shortly", error)
            time.sleep(self.unreachable_wait)
            return None, None

    def _receive(self, channels, block):

        buffered = self._take_buffered(channels)
        if buffered is not None:
            return buffered
        indexes = self._receive_list_names(channels)
        if indexes is None:
            return None, None
        while True:
            retry = False
            for index, list_names in indexes.items():
                random.shuffle(list_names)
                count = self._batch_size(list_names)
                reply = self.chatreceive(
                    keys=list_names, args=[count], client=self.connection(index)
                )
                received, retry_shard = self._accept(reply, count)
                if received is not None:
                    return received
                retry = retry or retry_shard
            if not retry and block:
                for index, list_names in indexes.items():
                    connection = self.connection(index)
                    popped = connection.blpop(list_names, timeout=self.blpop_timeout)
                    if not popped:
                        continue
                    count = self._batch_size(list_names)
                    reply = self.chatreceive(
                        keys=list_names, args=[count, popped[0], popped[1]], client=connection
                    )
                    received, retry_shard = self._accept(reply, count)
                    if received is not None:
                        return received
                    retry = retry or retry_shard
            if not retry:
                return None, None

    ### ASGI Group extension ###

    def group_add(self, group, channel):
        """Add ``channel`` (str) to ``group`` (str) for ``group_expiry``
        seconds, in one round trip to the shard of the channel's own list.

        Returns None. Raises ``TypeError`` for an invalid name.
        """
        assert self.valid_group_name(group), "Group name not valid"
        assert self.valid_channel_name(channel), "Channel name not valid"
        group_key = self._group_key(group)
        pipeline = self.connection(self._member_index(channel)).pipeline(transaction=False)
        # The score is the time added, as in the parent, so that members not
        # re-added within group_expiry are dropped by the next send.
        pipeline.zadd(group_key, **{channel: time.time()})
        pipeline.expire(group_key, self.group_expiry)
        pipeline.execute()

    def group_discard(self, group, channel):
        """Remove ``channel`` (str) from ``group`` (str) if it is a member,
        in one round trip. Returns None; a non-member is no error."""
        assert self.valid_group_name(group), "Group name not valid"
        assert self.valid_channel_name(channel), "Channel name not valid"
        self.connection(self._member_index(channel)).zrem(self._group_key(group), channel)

    def group_channels(self, group):
        """The members of ``group`` (str) as a list of str, gathered from
        every shard (one round trip each), members older than
        ``group_expiry`` seconds dropped first."""
        members = []
        for index in range(self.ring_size):
            members.extend(self._shard_members(index, group))
        return list(dict.fromkeys(members))

    def send_group(self, group, message):
        """Send ``message`` (dict) to every member of ``group`` (str).

        One Lua script per shard: it drops expired members, stores the body
        once with a reference count, and pushes a ``<body key>|<channel>``
        entry to each member whose channel is below its capacity. Members
        whose channel is full are skipped, counted (``channel_full_count``
        and ``group_full_count``) and logged at WARNING; the others get the
        message. Returns None and, as the ASGI spec asks, never raises
        ``ChannelFull``. When the capacity table cannot be evaluated in Lua,
        it costs one more round trip per shard (see ``_lua_capacity_table``).
        """
        assert self.valid_group_name(group), "Group name not valid"
        assert isinstance(message, dict), "message is not a dict"
        assert "__asgi_channel__" not in message
        body = self.serialize(message)
        group_key = self._group_key(group)
        cutoff = int(time.time()) - self.group_expiry
        delivered, full, full_members = 0, 0, []
        for index in range(self.ring_size):
            if self._lua_capacities is None:
                names = {self.non_local_name(m) for m in self._shard_members(index, group)}
                known = [item for name in names for item in (name, self.get_capacity(name))]
                patterns = []
            else:
                known, patterns = [], self._lua_capacities
            reply = self.chatsendgroup(
                keys=[group_key, self.prefix + uuid.uuid4().hex],
                args=[
                    body,
                    self.expiry,
                    cutoff,
                    self.prefix,
                    self.stats_prefix,
                    self.global_stats_key,
                    self.group_stats_key + group,
                    self.channel_statistics_expiry,
                    self.global_statistics_expiry,
                    self.capacity,
                    self.warn_members_shown,
                    len(known) // 2,
                    *known,
                    *patterns,
                ],
                client=self.connection(index),
            )
            delivered += reply[0]
            full += reply[1]
            full_members.extend(name.decode("utf8") for name in reply[2:])
        if full:
            logger.warning(
                "Group %s: %s of %s members' channels were full; the message was not "
                "delivered to them (among them: %s)",
                group,
                full,
                delivered + full,
                ", ".join(full_members[: self.warn_members_shown]),
            )

    def _member_index(self, channel):
        """The shard index (int) of the list that ``channel`` (str) is read
        from: consistent for every channel, so a Group member is filed where
        its messages go."""
        return self.consistent_hash(self.non_local_name(channel))

    def _shard_members(self, index, group):
        """The members (list of str) of ``group`` on shard ``index``, in one
        round trip that first drops members older than ``group_expiry``."""
        key = self._group_key(group)
        pipeline = self.connection(index).pipeline(transaction=False)
        pipeline.zremrangebyscore(key, 0, int(time.time()) - self.group_expiry)
        pipeline.zrange(key, 0, -1)
        return [member.decode("utf8") for member in pipeline.execute()[1]]

    ### Flush extension ###

    def flush(self):
        """Delete every message, Group and statistic under this layer's
        prefixes on every shard, and the messages held in-process."""
        self._buffered.clear()
        super().flush()

    ### Twisted extension ###

    @defer.inlineCallbacks
    def receive_twisted(self, channels):
        """Twisted-native ``receive`` for ``channels`` (list of str), as
        Daphne's ``backend_reader_twisted`` calls it in a loop.

        Returns a Deferred firing with ``(channel, message)``, or with
        ``(None, None)`` after ``blpop_timeout`` seconds per shard with
        nothing waiting. Uses one persistent connection per shard, opened on
        first use and re-opened by txredisapi (with back-off) if it drops; a
        command under way when it drops fails with txredisapi's
        ``ConnectionError``. Batches and deletes bodies like ``receive``.
        """
        buffered = self._take_buffered(channels)
        if buffered is not None:
            return buffered
        indexes = self._receive_list_names(channels)
        if indexes is None:
            return None, None
        while True:
            retry = False
            for index, list_names in indexes.items():
                random.shuffle(list_names)
                count = self._batch_size(list_names)
                connection = self._twisted_connection(index)
                reply = yield connection.eval(self.lua_receive, keys=list_names, args=[count])
                received, retry_shard = self._accept(reply, count)
                if received is not None:
                    return received
                retry = retry or retry_shard
            if not retry:
                for index, list_names in indexes.items():
                    connection = self._twisted_connection(index)
                    popped = yield connection.blpop(list_names, timeout=self.blpop_timeout)
                    if not popped:
                        continue
                    count = self._batch_size(list_names)
                    reply = yield connection.eval(
                        self.lua_receive, keys=list_names, args=[count, popped[0], popped[1]]
                    )
                    received, retry_shard = self._accept(reply, count)
                    if received is not None:
                        return received
                    retry = retry or retry_shard
            if not retry:
                return None, None

    def _twisted_connection(self, index):
        """The persistent txredisapi connection handler for shard ``index``
        (int), created on first use from the shard's redis-py settings."""
        handler = self._twisted_connections.get(index)
        if handler is None:
            settings = self.connection(index).connection_pool.connection_kwargs
            options = {
                "dbid": settings.get("db", 0),
                "password": settings.get("password"),
                # One connection: Daphne's reader asks for one thing at a time.
                "poolsize": 1,
                "reconnect": True,
                # Bodies are msgpack bytes: no decoding, no number guessing.
                "charset": None,
                "convertNumbers": False,
                "replyTimeout": settings.get("socket_timeout"),
            }
            if "path" in settings:
                handler = txredisapi.lazyUnixConnectionPool(path=settings["path"], **options)
            else:
                handler = txredisapi.lazyConnectionPool(
                    host=settings["host"],
                    port=settings["port"],
                    connectTimeout=settings.get("socket_connect_timeout"),
                    **options,
                )
            self._twisted_connections[index] = handler
        return handler

    def disconnect_twisted(self):
        """Close the persistent Twisted connections. Returns a Deferred that
        fires (with None) once they are closed; the next ``receive_twisted``
        opens new ones."""
        handlers = list(self._twisted_connections.values())
        self._twisted_connections.clear()
        closing = defer.gatherResults([handler.disconnect() for handler in handlers])
        return closing.addCallback(lambda _: None)

    ### Receiving helpers ###

    def _batch_size(self, list_names):
        """How many entries (int) one script run may pop from ``list_names``
        (prefixed list keys of one shard): a batch when all are process-local,
        whose only reader is this process, else one, as a message buffered
        here could not be taken by another reader of a shared channel."""
        if all(name.endswith("!") for name in list_names):
            return self.receive_batch_size
        return 1

    def _accept(self, reply, count):
        """Unpack the reply of ``lua_receive`` (a list: entries popped, then a
        list key, channel and body per message) that was allowed ``count``
        pops. Returns ``(first, retry)``: the first ``(channel, message)`` or
        None, the rest buffered; ``retry`` is True when nothing came back but
        the pops ran out (expired entries), so the lists may hold more."""
        popped = reply[0]
        received = []
        for position in range(1, len(reply), 3):
            list_name = reply[position][self._prefix_length :].decode("utf8")
            channel = reply[position + 1].decode("utf8")
            message = self.deserialize(reply[position + 2])
            if not channel:
                channel = message.pop("__asgi_channel__", list_name)
            received.append((list_name, channel, message))
        if not received:
            return None, popped >= count
        for list_name, channel, message in received[1:]:
            self._buffered[list_name].append((channel, message))
        return received[0][1:], False

    def _take_buffered(self, channels):
        """The oldest buffered ``(channel, message)`` of the process-local
        channels among ``channels`` (list of str), or None."""
        for channel in channels or ():
            queue = self._buffered.get(channel)
            if queue:
                return queue.popleft()
        return None

    ### Statistics extension ###

    def global_statistics(self):
        """Totals over every shard, as a dict of int: the parent's
        ``messages_count`` (messages sent) and ``channel_full_count`` (sends
        and Group deliveries refused by a full channel), plus
        ``group_full_count`` (the Group deliveries among them). Counters
        expire ``global_statistics_expiry`` seconds after their last change."""
        statistics = super().global_statistics()
        key = self._stat_key(self.global_stats_key, self.STAT_GROUP_FULL)
        statistics[self.STAT_GROUP_FULL] = sum(
            int(connection.get(key) or 0) for connection in self._connection_list
        )
        return statistics

    def group_statistics(self, group):
        """For ``group`` (str), a dict with ``group_full_count``: the member
        deliveries its sends dropped because a channel was full, over every
        shard, within ``global_statistics_expiry`` seconds of the last."""
        key = self._stat_key(self.group_stats_key + group, self.STAT_GROUP_FULL)
        return {
            self.STAT_GROUP_FULL: sum(
                int(connection.get(key) or 0) for connection in self._connection_list
            )
        }

    def _count_channel_stats(self, channel, connections):
        """The parent's per-channel statistics (``messages_count``,
        ``messages_pending``, ``messages_max_age`` in seconds,
        ``channel_full_count``) for ``channel`` (str, a non-local name),
        reading Group entries' body keys for the age, plus
        ``group_full_count``, summed over ``connections``."""
        statistics = {
            self.STAT_MESSAGES_COUNT: 0,
            self.STAT_MESSAGES_PENDING: 0,
            self.STAT_MESSAGES_MAX_AGE: 0,
            self.STAT_CHANNEL_FULL: 0,
            self.STAT_GROUP_FULL: 0,
        }
        channel_key = self.prefix + channel
        counters = (self.STAT_MESSAGES_COUNT, self.STAT_CHANNEL_FULL, self.STAT_GROUP_FULL)
        for connection in connections:
            values = connection.mget([self._stat_key(channel, name) for name in counters])
            for name, value in zip(counters, values, strict=True):
                statistics[name] += int(value or 0)
            statistics[self.STAT_MESSAGES_PENDING] += connection.llen(channel_key)
            oldest = connection.lindex(channel_key, 0)
            if oldest:
                body_key = oldest.split(ENTRY_SEPARATOR.encode(), 1)[0]
                ttl = connection.ttl(body_key)
                if ttl is not None and ttl >= 0:
                    statistics[self.STAT_MESSAGES_MAX_AGE] = max(
                        statistics[self.STAT_MESSAGES_MAX_AGE], self.expiry - ttl
                    )
        return statistics

    def _stat_key(self, scope, stat_name):
        """The Redis key (str) of counter ``stat_name`` for ``scope`` (a
        channel's non-local name, ``global_stats_key`` or a Group's
        ``group_stats_key`` + name), laid out as the parent lays it out."""
        return "%s%s:%s" % (self.stats_prefix, scope, stat_name)

    ### Redis Lua scripts ###

    # Send one message unless the channel is full; count either outcome.
    # Replaces the parent's lua_chansend plus a lua_incrstatcounters round trip.
    # KEYS: body, channel list, channel sent, global sent, channel full, global full
    # ARGV: body, expiry (s), capacity (messages), channel / global stats expiry (s)
    # Returns 1 if sent, 0 if the channel was full.
    lua_send = """
        local function bump(key, ttl)
            redis.call('INCR', key)
            redis.call('EXPIRE', key, ttl)
        end
        if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) then
            bump(KEYS[5], ARGV[4])
            bump(KEYS[6], ARGV[5])
            return 0
        end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        redis.call('RPUSH', KEYS[2], KEYS[1])
        redis.call('EXPIRE', KEYS[2], ARGV[2] + 1)
        bump(KEYS[3], ARGV[4])
        bump(KEYS[4], ARGV[5])
        return 1
    """

    # Pop up to a batch of entries from the lists, resolve and delete bodies.
    # An entry is either a body key (send; the body is a string) or
    # "<body key>|<channel>" (send_group; the body is a hash of "b", the
    # body, and "n", the entries still to read it, deleted at zero).
    # KEYS: channel lists, taken in order
    # ARGV: most entries to pop; optionally a list key and an entry that
    #       BLPOP has already popped from it, resolved first and counted
    # Returns {entries popped, then list key, channel ('' for a plain
    # entry), body for each message whose body had not expired}.
    lua_receive = """
        local limit = tonumber(ARGV[1])
        local out = {0}
        local popped = 0
        local function take(list, entry)
            local body
            local channel = ''
            local bar = string.find(entry, '|', 1, true)
            if bar then
                local key = string.sub(entry, 1, bar - 1)
                channel = string.sub(entry, bar + 1)
                body = redis.call('HGET', key, 'b')
                if body and redis.call('HINCRBY', key, 'n', -1) <= 0 then
                    redis.call('DEL', key)
                end
            else
                body = redis.call('GET', entry)
                if body then
                    redis.call('DEL', entry)
                end
            end
            if body then
                out[#out + 1] = list
                out[#out + 1] = channel
                out[#out + 1] = body
            end
        end
        if ARGV[2] then
            popped = 1
            take(ARGV[2], ARGV[3])
        end
        for i = 1, #KEYS do
            while popped < limit do
                local entry = redis.call('LPOP', KEYS[i])
                if not entry then
                    break
                end
                popped = popped + 1
                take(KEYS[i], entry)
            end
        end
        out[1] = popped
        return out
    """

    # Send to every member of a Group filed on this shard, storing the body once.
    # KEYS: the Group's sorted set, a fresh body key
    # ARGV: body, expiry (s), oldest score kept, channel prefix, stats prefix,
    #       global stats scope, this Group's stats scope, channel / global stats
    #       expiry (s), default capacity, most full members to name, K; then K
    #       (list name, capacity) pairs known beforehand; then (Lua pattern,
    #       capacity) pairs, the first match giving a list's capacity.
    # Returns {delivered, full, up to that many full member names}.
    lua_send_group = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
        local members = redis.call('ZRANGE', KEYS[1], 0, -1)
        if #members == 0 then
            return {0, 0}
        end
        local expiry = tonumber(ARGV[2])
        local prefix = ARGV[4]
        local stats = ARGV[5]
        local capacities = {}
        local patterns_from = 13 + 2 * tonumber(ARGV[12])
        for i = 13, patterns_from - 1, 2 do
            capacities[ARGV[i]] = tonumber(ARGV[i + 1])
        end
        local function capacity(name)
            local found = capacities[name]
            if found then
                return found
            end
            found = tonumber(ARGV[10])
            for i = patterns_from, #ARGV, 2 do
                if string.find(name, ARGV[i]) then
                    found = tonumber(ARGV[i + 1])
                    break
                end
            end
            capacities[name] = found
            return found
        end
        -- Lengths are read once per list and then tracked here, so a room on
        -- one Daphne costs one LLEN, not one per member.
        local lists, lengths, sent, full = {}, {}, {}, {}
        local delivered, dropped, named = 0, 0, {}
        for _, member in ipairs(members) do
            local bang = string.find(member, '!', 1, true)
            local name = member
            if bang then
                name = string.sub(member, 1, bang)
            end
            if lengths[name] == nil then
                lists[#lists + 1] = name
                lengths[name] = redis.call('LLEN', prefix .. name)
                sent[name] = 0
                full[name] = 0
            end
            if lengths[name] >= capacity(name) then
                full[name] = full[name] + 1
                dropped = dropped + 1
                if #named < tonumber(ARGV[11]) then
                    named[#named + 1] = member
                end
            else
                redis.call('RPUSH', prefix .. name, KEYS[2] .. '|' .. member)
                lengths[name] = lengths[name] + 1
                sent[name] = sent[name] + 1
                delivered = delivered + 1
            end
        end
        if delivered > 0 then
            redis.call('HSET', KEYS[2], 'b', ARGV[1], 'n', delivered)
            redis.call('EXPIRE', KEYS[2], expiry)
        end
        local function bump(scope, stat, by, ttl)
            local key = stats .. scope .. ':' .. stat
            redis.call('INCRBY', key, by)
            redis.call('EXPIRE', key, ttl)
        end
        for _, name in ipairs(lists) do
            if sent[name] > 0 then
                redis.call('EXPIRE', prefix .. name, expiry + 1)
                bump(name, 'messages_count', sent[name], ARGV[8])
            end
            if full[name] > 0 then
                bump(name, 'channel_full_count', full[name], ARGV[8])
                bump(name, 'group_full_count', full[name], ARGV[8])
            end
        end
        if delivered > 0 then
            bump(ARGV[6], 'messages_count', delivered, ARGV[9])
        end
        if dropped > 0 then
            bump(ARGV[6], 'channel_full_count', dropped, ARGV[9])
            bump(ARGV[6], 'group_full_count', dropped, ARGV[9])
            bump(ARGV[7], 'group_full_count', dropped, ARGV[9])
        end
        local reply = {delivered, dropped}
        for _, member in ipairs(named) do
            reply[#reply + 1] = member
        end
        return reply
    """
