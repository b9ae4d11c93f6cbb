"""Receiving: ``receive`` and ``receive_twisted``, one loop under two drivers.

The stock layer's receives cost three round trips a message (pop, GET,
DEL), and its ``receive_twisted`` opened a ten-connection pool per message
and never deleted the body: 23 to 64 messages a second through one Daphne.
Here every entry carries its body (``entries``), so one ``BLMPOP`` (or
``LMPOP`` when not blocking) takes up to ``receive_batch_size`` messages of
a process-local channel, or one of a shared channel, and nothing is left to
fetch or delete; the extras wait in-process, and Twisted mode keeps one
connection per shard open. An entry in an earlier, pointer format costs one
more round trip (resolve.lua) for its batch.

What to ask Redis and what to make of the replies is written once, in
``ReceiveMixin._receive_loop``: a generator that does no I/O itself. It
yields a request (``Pop`` or ``Resolve``), is sent the reply, and finally
returns ``(channel, message)`` through ``StopIteration``. ``receive``
drives it with redis-py, blocking; ``receive_twisted`` drives it with
txredisapi under ``inlineCallbacks``. Both therefore make the same Redis
calls in the same order. docs/channel-layer.md ("Batching and buffering",
"Twisted mode") has the measurements behind the batch size.
"""

import collections
import logging
import random
import time
from typing import NamedTuple

import redis
import txredisapi
from twisted.internet import defer, task

from chat.transport.layer import scripts
from chat.transport.layer.entries import parse_entry

# One logger for the whole layer, named after the package, so that
# docs/operations.md can tell operators which name to watch.
logger = logging.getLogger("chat.transport.layer")


class Pop(NamedTuple):
    """A request from the receive loop: pop up to ``count`` (int) entries
    from the first non-empty list of ``list_names`` (prefixed list keys,
    str) on shard ``index`` (int); with ``block``, wait up to
    ``blpop_timeout`` seconds for one (``BLMPOP``), else not (``LMPOP``).
    The reply to send back is Redis's: ``[list key, [entry, …]]`` (bytes)
    or None."""

    index: int
    list_names: list
    count: int
    block: bool


class Resolve(NamedTuple):
    """A request from the receive loop: run resolve.lua on shard ``index``
    (int) for ``pairs``, a flat list of (list key, entry) for entries in a
    pointer format, already popped. The reply to send back is the
    script's: list key, channel and body (bytes) per message still there."""

    index: int
    pairs: list


class ReceiveMixin:
    """``receive`` and ``receive_twisted`` for ``ChatChannelLayer``, with the
    in-process buffer of batched messages and the persistent Twisted
    connections.

    Relies on the parent layer's ``connection``, ``_receive_list_names``,
    ``deserialize`` and ``blpop_timeout``; on ``chatresolve`` (resolve.lua,
    registered by the combining class); on ``CapacityMixin``'s
    ``_capacities_checked`` and ``_warn_unsized``; and on ``SentinelMixin``'s
    ``sentinel``, ``_master_address`` and ``_is_master_lost``. ``_setup_receiving`` must
    run after the parent's ``__init__``.
    """

    lua_resolve = scripts.lua_resolve

    # Most messages one receive round trip takes from a process-local channel.
    # Measured on a 2-core box (docs/channel-layer.md): past 100, delivery
    # got no faster, while each script run (which blocks Redis) got longer.
    receive_batch_size = 100
    # Seconds ``receive`` waits after finding Redis unreachable: long enough
    # not to spin on a dead server, short against a restart's downtime.
    unreachable_wait = 1.0

    def _setup_receiving(self, receive_batch_size):
        """Set the batch size (messages; None keeps the class's) and the
        empty buffer and connection table."""
        if receive_batch_size is not None:
            self.receive_batch_size = int(receive_batch_size)
        self._prefix_length = len(self.prefix.encode("utf8"))
        # Messages taken in a batch but not yet returned, by the process-local
        # channel (e.g. "daphne.response.abc!") they were received from.
        self._buffered = collections.defaultdict(collections.deque)
        self._twisted_connections = {}

    def receive(self, channels, block=False):
        """Take one message from any of ``channels`` (list of str).

        Returns ``(channel, message)``, or ``(None, None)`` when nothing is
        waiting (with ``block``, after up to ``blpop_timeout`` seconds per
        shard). A process-local channel (ending in "!") gives up to
        ``receive_batch_size`` messages per round trip; the rest are returned
        by the next calls, in order. A message past its expiry is dropped,
        not returned. Raises ``TypeError`` for an invalid channel name, and
        ``RuntimeError`` when Redis is older than 7.0 (no ``BLMPOP``).

        While Redis is unreachable (restarting, say) it logs a warning, waits
        ``unreachable_wait`` seconds and returns ``(None, None)`` instead of
        raising, so a worker's loop outlives the outage and picks up again
        when Redis is back; redis-py reconnects by itself.
        """
        try:
            return self._receive_blocking(channels, block)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            logger.warning("Redis unreachable (%s); receiving again shortly", error)
            time.sleep(self.unreachable_wait)
            return None, None

    def _receive_blocking(self, channels, block):
        """Drive ``_receive_loop`` with redis-py; returns its result."""
        loop = self._receive_loop(channels, block)
        reply = None
        while True:
            try:
                request = loop.send(reply)
            except StopIteration as finished:
                return finished.value
            client = self.connection(request.index)
            if type(request) is Pop:
                reply = self._pop_blocking(client, request)
            else:
                reply = self.chatresolve(keys=[], args=request.pairs, client=client)

    def _pop_blocking(self, client, request):
        """Run ``request`` (a ``Pop``) with redis-py ``client``; its reply."""
        command = self._pop_command(request)
        try:
            return client.execute_command(*command)
        except redis.exceptions.ResponseError as error:
            raise self._old_redis(error) from error

    def _pop_command(self, request):
        """The Redis command (list) that runs ``request`` (a ``Pop``)."""
        keys = (len(request.list_names), *request.list_names, "LEFT", "COUNT", request.count)
        if request.block:
            return ["BLMPOP", self.blpop_timeout, *keys]
        return ["LMPOP", *keys]

    @staticmethod
    def _old_redis(error):
        """The error to raise for ``error`` (a Redis error reply): a
        ``RuntimeError`` naming the version needed when Redis does not know
        ``LMPOP``, else ``error`` itself."""
        if "unknown command" in str(error).lower():
            return RuntimeError(
                "The chat's channel layer needs Redis 7.0 or later (LMPOP, BLMPOP): %s" % error
            )
        return error

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

        Under Sentinel the connection is opened on the master the sentinels
        name; when opening or using it fails because the master is gone or
        has moved, it is closed, a warning logged, and the Deferred fires
        with ``(None, None)`` after ``unreachable_wait`` seconds, so that the
        next call opens one on the master the sentinels name then.
        """
        # Always blocking: Daphne's reader calls again at once after an
        # empty answer, so returning early would poll Redis in a tight loop.
        loop = self._receive_loop(channels, block=True)
        reply = None
        while True:
            try:
                request = loop.send(reply)
            except StopIteration as finished:
                return finished.value
            try:
                connection = self._twisted_connections.get(request.index)
                if connection is None:
                    connection = yield self._open_twisted_connection(request.index)
                if type(request) is Pop:
                    reply = yield connection.execute_command(
                        *self._pop_command(request), apply_timeout=not request.block
                    )
                else:
                    reply = yield connection.eval(self.lua_resolve, keys=[], args=request.pairs)
            except Exception as error:
                if self.sentinel is None or not self._is_master_lost(error):
                    raise
                yield self._forget_master(request.index, error)
                return None, None

    def _receive_loop(self, channels, block):
        """The receive logic for ``channels`` (list of str), as a generator.

        Yields ``Pop`` and ``Resolve`` requests and expects each one's reply
        through ``send``; returns ``(channel, message)`` or ``(None, None)``
        through ``StopIteration``. A buffered message is returned without a
        request. With one shard and ``block``, that shard's lists are
        watched with ``BLMPOP`` at once: it answers at once when something
        is waiting. With several, each shard is first looked at with
        ``LMPOP``, and only if all were empty (and ``block``) watched with
        ``BLMPOP`` in turn. It starts over while the only entries found had
        expired. Raises ``TypeError`` for an invalid channel name.
        """
        buffered = self._take_buffered(channels)
        if buffered is not None:
            return buffered
        indexes = self._receive_list_names(channels)
        if indexes is None:
            return None, None
        # After the first call with these channels, a set lookup per call.
        if not self._capacities_checked.issuperset(channels):
            self._warn_unsized(channels)
        while True:
            retry = False
            passes = [block] if block and len(indexes) == 1 else [False, True] if block else [False]
            for blocking in passes:
                for index, list_names in indexes.items():
                    random.shuffle(list_names)
                    count = self._batch_size(list_names)
                    reply = yield Pop(index, list_names, count, blocking)
                    if not reply:
                        continue
                    received = yield from self._accept(index, reply)
                    if received is not None:
                        return received
                    # Everything popped had expired: the lists may hold more.
                    retry = True
                if retry:
                    break
            if not retry:
                return None, None

    def _twisted_connection(self, index):
        """The persistent txredisapi connection handler for shard ``index``
        (int), created on first use from the shard's redis-py settings."""
        handler = self._twisted_connections.get(index)
        if handler is None:
            settings = self.connection(index).connection_pool.connection_kwargs
            options = self._twisted_options(settings)
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

    def _twisted_options(self, settings):
        """txredisapi's options (dict) for a connection made with the
        redis-py ``settings`` (a pool's ``connection_kwargs``)."""
        return {
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

    def _open_twisted_connection(self, index):
        """A Deferred firing with the connection handler for shard ``index``
        (int): ``_twisted_connection``'s, or under Sentinel one opened on the
        master the sentinels name now."""
        if self.sentinel is None:
            return defer.succeed(self._twisted_connection(index))
        return self._open_master_connection(index)

    @defer.inlineCallbacks
    def _open_master_connection(self, index):
        host, port = yield self._master_address()
        settings = self.connection(index).connection_pool.connection_kwargs
        options = self._twisted_options(settings)
        # Reconnecting would go back to the same address, where the master
        # may no longer be: the next receive asks the sentinels instead.
        options["reconnect"] = False
        try:
            handler = yield txredisapi.ConnectionPool(
                host=host,
                port=port,
                connectTimeout=settings.get("socket_connect_timeout") or self.unreachable_wait,
                **options,
            )
        except ValueError as error:
            # How txredisapi reports a connection it could not make.
            raise txredisapi.ConnectionError(str(error)) from None
        logger.info("Receiving from the Redis master at %s:%s", host, port)
        self._twisted_connections[index] = handler
        return handler

    @defer.inlineCallbacks
    def _forget_master(self, index, error):
        """Close shard ``index``'s Twisted connection after ``error`` and
        wait ``unreachable_wait`` seconds. Returns a Deferred firing with
        None."""
        logger.warning(
            "Redis master unreachable or moved (%s); asking the sentinels again shortly", error
        )
        from twisted.internet import reactor

        handler = self._twisted_connections.pop(index, None)
        if handler is not None:
            try:
                yield handler.disconnect()
            except Exception:
                logger.debug("Closing the old master's connection failed", exc_info=True)
        yield task.deferLater(reactor, self.unreachable_wait, lambda: None)

    def disconnect_twisted(self):
        """Close the persistent Twisted connections. Returns a Deferred that
        fires (with None) once they are closed; the next ``receive_twisted``
        opens new ones."""
        handlers = list(self._twisted_connections.values())
        self._twisted_connections.clear()
        closing = defer.gatherResults([handler.disconnect() for handler in handlers])
        return closing.addCallback(lambda _: None)

    def _batch_size(self, list_names):
        """How many entries (int) one script run may pop from ``list_names``
        (prefixed list keys of one shard): a batch when all are process-local,
        whose only reader is this process, else one, as a message buffered
        here could not be taken by another reader of a shared channel."""
        if all(name.endswith("!") for name in list_names):
            return self.receive_batch_size
        return 1

    def _accept(self, index, reply):
        """Unpack a ``Pop``'s ``reply`` from shard ``index`` (int), as a
        generator that yields a ``Resolve`` for entries in a pointer format.
        Returns the first ``(channel, message)`` not past its expiry, the
        rest buffered in order, or None when all had expired."""
        list_key, entries = reply
        list_name = list_key[self._prefix_length :].decode("utf8")
        now = time.time() * 1000
        received = []
        pointers = []
        for entry in entries:
            inline = parse_entry(entry)
            if inline is None:
                # Resolved in one round trip with the batch's other pointers,
                # in place: a marker keeps the entry's position.
                pointers.extend((list_key, entry))
                received.append(None)
                continue
            expires_at, channel, body = inline
            if expires_at < now:
                continue
            received.append((channel or list_name, self.deserialize(body)))
        if pointers:
            resolved = yield Resolve(index, pointers)
            received = self._merge_resolved(received, resolved, list_name)
        if not received:
            return None
        for channel, message in received[1:]:
            self._buffered[list_name].append((channel, message))
        return received[0]

    def _merge_resolved(self, received, resolved, list_name):
        """``received`` (list of ``(channel, message)``, or None where a
        pointer entry stood) with each pointer replaced by what resolve.lua
        returned for it (``resolved``: list key, channel and body per
        pointer, in order; an empty body for one that had expired, which
        is dropped)."""
        resolved_messages = iter(range(0, len(resolved), 3))
        merged = []
        for item in received:
            if item is not None:
                merged.append(item)
                continue
            position = next(resolved_messages)
            body = resolved[position + 2]
            if not body:
                continue
            channel = resolved[position + 1].decode("utf8")
            message = self.deserialize(body)
            if not channel:
                channel = message.pop("__asgi_channel__", list_name)
            merged.append((channel, message))
        return merged

    def _take_buffered(self, channels):
        """The oldest buffered ``(channel, message)`` of the process-local
        channels among ``channels`` (list of str), or None."""
        for channel in channels or ():
            queue = self._buffered.get(channel)
            if queue:
                return queue.popleft()
        return None
