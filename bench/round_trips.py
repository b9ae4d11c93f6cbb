"""What one chat message costs in round trips, hop by hop.

``count_round_trips`` boots the split (one Daphne and W workers, from the
Procfile) against a ``redis-server`` of its own, which it watches with
MONITOR, and against PostgreSQL through ``PostgresCounter``, a proxy that
notes every round trip a client starts. Two members join one room; after a
warm-up, they send ``messages`` chat messages in turn, one at a time: each
goes once the previous one has reached both members and ``SETTLE_S`` has
passed, so every message finds every process idle, and costs what a
message on a quiet split costs. Then each Redis command and each
PostgreSQL round trip sent between the start and the end of that window is
put down to the process whose connection sent it (its client port, looked
up with psutil) and to a hop:

========================  ==================================================
``daphne_in``             Daphne puts the frame on ``websocket.receive``
``worker_receive``        a worker takes it: the BLMPOP that wakes with it
                          (LMPOP when several shards are looked at first;
                          resolve.lua for an entry in a pointer format)
``worker_session``        the channel session's read and write; the socket
                          order's ``next_order`` lives in it, and its wait
                          re-reads it
``worker_store``          PostgreSQL: the insert (before 2026-12-05, the lock and
                          the insert, then the unlock)
``worker_group_send``     the broadcast: send_group.lua
``worker_other``          anything else a worker sends, to either
``daphne_out``            Daphne takes the broadcast for its members' sockets
``daphne_other``          anything else Daphne sends
``unattributed``          a connection no watched process holds any more
========================  ==================================================

Not counted, and reported apart as ``background``: the heartbeats (their
keys), the presence flusher (its scripts and keys, and its frames to the
presence Group), the workers' job, webhook and scheduled-message sweeps, the
delay server's poll of its table, and a receive loop
that woke because its BLMPOP timed out (the connection's next command came
``IDLE_GAP_SHARE`` of ``blpop_timeout`` or more later). Lookups that a cache of the chat's own
answers most of the time (a room's webhook URL, an anonymous handle's
check) are counted apart as ``cached_lookups``. Anything not recognised is
counted, never left out.

Redis runs each script's own commands under MONITOR's ``lua`` client,
right after the EVAL or EVALSHA that started it; they are counted apart,
``in_scripts``, under that script's hop. ``INFO commandstats`` taken at
both ends of the window checks that MONITOR saw every command Redis ran.

docs/benchmark.md ("Round trips per message") describes the record;
docs/channel-layer.md has the table of what each hop's commands are for.
"""

import asyncio
import codecs
import contextlib
import hashlib
import os
import re
import socket
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psutil
import redis

from bench import services, sweep
from bench.chat_client import ChatClient, unique_label

# The record's scenario name.
SCENARIO = "round-trips"

# Chat messages counted unless told otherwise, and sent first to open every
# process's connections, load the scripts and fill the caches (each worker
# takes about half of them).
DEFAULT_MESSAGES = 50
WARMUP_MESSAGES = 6

# Pause after each message has reached both members, in seconds, so that
# the commands a message sends after its broadcast (the unlock, the
# channel session's write, the receive loops going back to BLMPOP) are done
# before the next one starts. Counts do not depend on it; which message a
# late command is put down to does.
SETTLE_S = 0.1

# Quiet before the window opens and after the last message, in seconds:
# longer than the presence window (1 s) after the members' joins, so that
# their presence frame is sent before, and long enough for the last
# message's trailing commands.
QUIET_S = 2.0
END_SETTLE_S = 1.0

# A BLMPOP whose connection sent nothing more for this share of the layer's
# blpop_timeout timed out: an idle wake-up, not a message's.
IDLE_GAP_SHARE = 0.9

# The layer's receiving commands (chat/transport/layer/receive.py): the
# blocking pops, and LMPOP, which looks without waiting.
BLOCKING_POPS = ("BLMPOP", "BLPOP")
RECEIVING_COMMANDS = BLOCKING_POPS + ("LMPOP",)

# The hops, in the order of a message's way through the split.
REDIS_HOPS = (
    "daphne_in",
    "worker_receive",
    "worker_session",
    "worker_group_send",
    "worker_other",
    "daphne_out",
    "daphne_other",
    "unattributed",
)
POSTGRESQL_HOPS = ("worker_store", "worker_other", "daphne_other", "unattributed")
HOP_TITLES = {
    "daphne_in": "Daphne in",
    "worker_receive": "worker: receive",
    "worker_session": "worker: channel session",
    "worker_store": "worker: store",
    "worker_group_send": "worker: Group send",
    "worker_other": "worker: other",
    "daphne_out": "Daphne out",
    "daphne_other": "Daphne: other",
    "unattributed": "unattributed",
}

# Where a command that is no part of a message goes.
BACKGROUND = "background"
CACHED = "cached"

# The roles of the watched processes, from their report names.
DAPHNE, WORKER, BENCH = "daphne", "worker", "chatbench"

# Keys under the layer's prefix that only the heartbeats touch
# (chat/transport/daphne_heartbeat.py, worker_heartbeat.py), and the
# presence keys only the flusher touches (chat/presence/).
HEARTBEAT_KEYS = ("daphne-alive:", "daphne-epoch:", "worker-alive:")
FLUSHER_KEYS = ("presence:due", "presence:daphnes")
FLUSHER_SCRIPTS = ("presence take.lua", "presence prune.lua")
# The live counts' keys (chat.live_counts.stores) and the script that marks
# a room or a user due.
LIVE_COUNTS_KEYS = "counts:"
LIVE_COUNTS_TOUCH = "live counts touch.lua"
# The channel session's keys: django-redis's ``<KEY_PREFIX>:<version>:``,
# then Django's cache session store's own prefix (chat/settings.py).
SESSION_KEY = "session:1:django.contrib.sessions.cache"

# PostgreSQL statements by what they are, on their text with spaces
# squeezed and in lower case; the first match wins. The hop is
# ``BACKGROUND`` for a sweep's and ``CACHED`` for a lookup that a cache
# answers most of the time: chat/webhooks.py keeps a room's webhook URL
# for URL_CACHE_S (5 s) per process, and chat/consumers.py trusts an
# anonymous socket's handle for CHAT_HANDLE_RECHECK_SECONDS (60 s).
POSTGRESQL_KINDS = (
    ("lock and store", "worker_store", r"pg_advisory_lock\(.*insert into \S*chat_message"),
    # Since 2026-12-05 on the chat's layer: the store alone, one statement.
    ("store", "worker_store", r"^with (earlier|numbered) as .*insert into \S*chat_message"),
    ("unlock", "worker_store", r"^select pg_advisory_unlock\("),
    ("webhook URL lookup", CACHED, r'^select "chat_room"\."webhook_url" from "chat_room"'),
    # Who a text with an "@" mentions (chat.selectors.mentioned): before the
    # lock, on the store's hop; the chat messages counted here have none.
    ("mention lookup", "worker_store", r'^select "chat_registeredhandle"\."canonical"'),
    ("handle check", CACHED, r'from "chat_registeredhandle"'),
    ("image job sweep", BACKGROUND, r'^select "chat_upload"\..* from "chat_upload" where'),
    (
        "webhook sweep",
        BACKGROUND,
        r'^select "chat_webhookdelivery"\."id" from "chat_webhookdelivery"',
    ),
    (
        "scheduled-message sweep",
        BACKGROUND,
        r'^select "chat_scheduledmessage"\."id" from "chat_scheduledmessage"',
    ),
    ("delay server poll", BACKGROUND, r'from "channels\.delay_delayedmessage"'),
    # The live counts' fan-out (chat.live_counts.fan_out): a room's
    # followers, asked by the flusher thread at most once a second per
    # room, however many messages the room had.
    # A connection's first statement, once per connection (Django's
    # init_connection_state), not per message: a worker thread's first query.
    ("connection setup", BACKGROUND, r"^set time zone "),
    (
        "live counts fan-out",
        BACKGROUND,
        r'^\(select "chat_readmark"\."user_id" from "chat_readmark"',
    ),
)


@dataclass(frozen=True)
class Command:
    """One line of MONITOR: ``time`` (Redis's clock, epoch s), ``client``
    (``"127.0.0.1:<port>"``, or ``"lua"`` for a command a script ran) and
    ``args`` (a tuple of bytes, the command's name first)."""

    time: float
    client: str
    args: tuple

    @property
    def name(self):
        """The command's name in capitals (str), e.g. ``"EVALSHA"``."""
        return self.args[0].decode("ascii", "replace").upper() if self.args else ""


# A MONITOR line: `1733400000.123456 [0 127.0.0.1:5555] "GET" "key"`, each
# argument quoted and escaped as Redis's sdscatrepr does (\\, \", \n, \r,
# \t, \a, \b, \xHH), which is Python's own bytes escaping.
MONITOR_LINE = re.compile(rb"^\+?(?P<time>\d+\.\d+) \[\d+ (?P<client>[^\]]+)\] (?P<args>.*)$")
MONITOR_ARGUMENT = re.compile(rb'"((?:[^"\\]|\\.)*)"')


def parse_monitor_line(line):
    """The ``Command`` of one MONITOR line (bytes, with or without the
    ``+`` of a status reply and the line end), or None for a line that is
    not a command, such as the ``OK`` that answers MONITOR itself."""
    match = MONITOR_LINE.match(line.rstrip(b"\r\n"))
    if match is None:
        return None
    args = tuple(codecs.escape_decode(arg)[0] for arg in MONITOR_ARGUMENT.findall(match["args"]))
    return Command(float(match["time"]), match["client"].decode("ascii", "replace"), args)


class RedisMonitor:
    """Every command a Redis server runs, as MONITOR shows it, gathered by
    a thread of its own into ``commands`` (a list of ``Command``, in the
    order Redis ran them).

    ``url`` is the server's ``redis://`` URL. ``mark(text)`` puts an ECHO of
    ``text`` into the stream, from a control connection of this process;
    ``commandstats()`` reads ``INFO commandstats``, which shows in the
    stream too. MONITOR slows a server down, which is why it watches one
    started for the purpose. Use as a context manager.
    """

    def __init__(self, url):
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port or 6379)
        self.commands = []
        self.control = redis.StrictRedis(host=self.address[0], port=self.address[1])
        self._socket = None
        self._thread = None

    def __enter__(self):
        self._socket = socket.create_connection(self.address, timeout=10)
        self._socket.settimeout(None)
        stream = self._socket.makefile("rb")
        self._socket.sendall(b"MONITOR\r\n")
        if stream.readline().rstrip() != b"+OK":
            raise RuntimeError("Redis at %s:%d refused MONITOR" % self.address)
        self._thread = threading.Thread(
            target=self._read, args=(stream,), name="redis-monitor", daemon=True
        )
        self._thread.start()
        return self

    def _read(self, stream):
        for line in stream:
            command = parse_monitor_line(line)
            if command is not None:
                self.commands.append(command)

    def mark(self, text):
        """Send ``ECHO text`` (str) from the control connection; returns
        ``text``. It shows in ``commands`` in its place."""
        self.control.echo(text)
        return text

    def commandstats(self):
        """How many times Redis has run each command (dict of name, such as
        ``"get"`` or ``"client|setname"``, to int), from ``INFO
        commandstats``: commands run by scripts included."""
        info = self.control.info("commandstats")
        return {name[len("cmdstat_") :]: stats["calls"] for name, stats in info.items()}

    def wait_for(self, predicate, start=0, timeout=10.0):
        """Wait until a gathered ``Command`` at index ``start`` or later
        satisfies ``predicate``; returns its index. Raises ``TimeoutError``
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        checked = start
        while time.monotonic() < deadline:
            commands = self.commands
            for index in range(checked, len(commands)):
                if predicate(commands[index]):
                    return index
            checked = max(checked, len(commands))
            time.sleep(0.01)
        raise TimeoutError("MONITOR did not show the command waited for")

    def __exit__(self, *exc_info):
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=10)


# PostgreSQL's frontend messages (the protocol's "Message Formats"). Before
# the startup message they carry no type byte; the SSL and GSSAPI
# encryption requests are answered "N" (not supported) here, as by a
# server without them, so the client goes on in plain text.
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
# A simple Query, a Sync ending an extended query, a FunctionCall: each
# waits for the server's ReadyForQuery, so each is one round trip.
ROUND_TRIP_MESSAGES = {b"Q", b"S", b"F"}


@dataclass(frozen=True)
class Statement:
    """One PostgreSQL round trip a client started: ``at`` (this process's
    ``time.monotonic()``, s), ``client_port`` (int) and ``text`` (str: the
    query; for an extended query, the last one parsed on that connection)."""

    at: float
    client_port: int
    text: str


class PostgresCounter:
    """A TCP proxy on 127.0.0.1 in front of the PostgreSQL server at
    ``server_url`` that notes, in ``statements`` (a list of
    ``Statement``), every round trip its clients start. It reads the
    client's side of the protocol only as far as its message frames, and
    forwards every byte both ways unchanged. ``url`` is ``server_url``
    pointed at the proxy. Use as a context manager; it runs an asyncio
    loop in a thread of its own.
    """

    def __init__(self, server_url):
        parts = urlsplit(server_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = services.free_port()
        user, at, _ = parts.netloc.rpartition("@")
        self.url = urlunsplit(parts._replace(netloc="%s%s127.0.0.1:%d" % (user, at, self.port)))
        self.statements = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postgres-counter", daemon=True)

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("The PostgreSQL proxy did not start")
        return self

    def __exit__(self, *exc_info):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _serve(self, reader, writer):
        client_port = writer.get_extra_info("peername")[1]
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        answers = asyncio.ensure_future(self._pipe(upstream_reader, writer))
        try:
            await self._frontend(reader, writer, upstream_writer, client_port)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            upstream_writer.close()
            await asyncio.gather(answers, return_exceptions=True)
            writer.close()

    async def _frontend(self, reader, writer, upstream, client_port):
        # The startup phase: length-prefixed messages without a type byte.
        while True:
            head = await reader.readexactly(8)
            length, code = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
            body = await reader.readexactly(length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                writer.write(b"N")
                continue
            upstream.write(head + body)
            break
        parsed = ""
        while True:
            kind = await reader.readexactly(1)
            head = await reader.readexactly(4)
            body = await reader.readexactly(int.from_bytes(head, "big") - 4)
            if kind == b"P":
                # Parse: the statement's name, then its query, each ending in a NUL.
                parsed = body.split(b"\0", 2)[1].decode("utf8", "replace")
            if kind in ROUND_TRIP_MESSAGES:
                text = body[:-1].decode("utf8", "replace") if kind == b"Q" else parsed
                self.statements.append(Statement(time.monotonic(), client_port, text))
            upstream.write(kind + head + body)
            await upstream.drain()

    @staticmethod
    async def _pipe(source, sink):
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


def client_ports(processes, server_port):
    """Which watched process holds each TCP connection to ``server_port``
    (int) on this host: a dict of client port (int) to report name (str).
    ``processes`` is a dict of report name to pid; a process that cannot be
    read is left out."""
    ports = {}
    for name, pid in processes.items():
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        for connection in connections:
            if connection.raddr and connection.raddr.port == server_port:
                ports[connection.laddr.port] = name
    return ports


def role_of(name):
    """The role (``DAPHNE``, ``WORKER``, ``BENCH``) of a report name such as
    ``"worker.2"``, or None for an unknown one."""
    if name is None:
        return None
    return name.split(".", 1)[0]


def script_names():
    """The name (str) of each Lua script the chat runs, by its SHA-1 (hex
    str): the layer's, its parent's and presence's."""
    from asgi_redis import RedisChannelLayer

    from chat.live_counts import stores as live_counts
    from chat.presence.stores import RedisStore
    from chat.transport.layer import scripts

    named = {
        "send.lua": scripts.lua_send,
        "resolve.lua": scripts.lua_resolve,
        "send_group.lua": scripts.lua_send_group,
        "presence join.lua": RedisStore.lua_join,
        "presence leave.lua": RedisStore.lua_leave,
        "presence take.lua": RedisStore.lua_take,
        "presence prune.lua": RedisStore.lua_prune,
        LIVE_COUNTS_TOUCH: live_counts.TOUCH_LUA,
        "live counts take.lua": live_counts.TAKE_LUA,
        "live counts offer.lua": live_counts.OFFER_LUA,
    }
    for attribute in ("lua_chansend", "lua_lpopmany", "lua_delprefix", "lua_incrstatcounters"):
        named["asgi_redis %s" % attribute[4:]] = getattr(RedisChannelLayer, attribute)
    return {hashlib.sha1(text.encode("utf8")).hexdigest(): name for name, text in named.items()}


def redis_label(command, scripts):
    """``(label, script, keys)`` of a ``Command``: the label is its name,
    with the script's for an EVAL or EVALSHA (``"EVALSHA send.lua"``);
    ``script`` is that script's name or None; ``keys`` (list of str) the
    keys it names (a script's KEYS, or a plain command's first argument)."""
    name = command.name
    if name in ("EVAL", "EVALSHA") and len(command.args) >= 3:
        code = command.args[1]
        sha = (
            code.decode("ascii", "replace") if name == "EVALSHA" else hashlib.sha1(code).hexdigest()
        )
        script = scripts.get(sha, "script %s" % sha[:8])
        count = int(command.args[2])
        keys = [key.decode("utf8", "replace") for key in command.args[3 : 3 + count]]
        return "%s %s" % (name, script), script, keys
    if name == "SCRIPT" and len(command.args) == 3 and command.args[1].upper() == b"LOAD":
        # redis-py loads a script before its first EVALSHA from a process.
        sha = hashlib.sha1(command.args[2]).hexdigest()
        script = scripts.get(sha, "script %s" % sha[:8])
        return "SCRIPT LOAD %s" % script, script, []
    keys = [command.args[1].decode("utf8", "replace")] if len(command.args) > 1 else []
    return name, None, keys


def redis_hop(role, command, scripts, prefix):
    """``(hop, label)`` of a ``Command`` sent by a process of ``role``
    (``DAPHNE``, ``WORKER``, or None for an unknown connection), with
    ``scripts`` from ``script_names()`` and the layer's key ``prefix``:
    ``hop`` is one of ``REDIS_HOPS``, or ``BACKGROUND``."""
    label, script, keys = redis_label(command, scripts)
    under = [key[len(prefix) :] for key in keys if key.startswith(prefix)]
    # The flusher's first: its prune script also names heartbeat keys.
    if script in FLUSHER_SCRIPTS or any(key in FLUSHER_KEYS for key in under):
        return BACKGROUND, "presence flusher: " + label
    if any(key.startswith(HEARTBEAT_KEYS) for key in under):
        return BACKGROUND, "heartbeat: " + label
    if any(key.startswith(LIVE_COUNTS_KEYS) for key in under):
        # A room's change marks it due, once per message, on the worker's
        # hop; the rest is the flusher thread's, once a second at most.
        if script == LIVE_COUNTS_TOUCH and under[0] == LIVE_COUNTS_KEYS + "due:rooms":
            return "worker_other", label
        return BACKGROUND, "live counts flusher: " + label
    if script == "send_group.lua" and keys and keys[0].endswith(".presence"):
        return BACKGROUND, "presence frame: " + label
    receiving = command.name in RECEIVING_COMMANDS or script == "resolve.lua"
    if role == DAPHNE:
        if receiving:
            return "daphne_out", label
        if script == "send.lua" and under and under[0].startswith("websocket."):
            return "daphne_in", label
        return "daphne_other", label
    if role == WORKER:
        if receiving:
            return "worker_receive", label
        if script == "send_group.lua":
            return "worker_group_send", label
        if any(key.startswith(SESSION_KEY) for key in under):
            return "worker_session", label
        return "worker_other", label
    return "unattributed", label


def idle_wakeups(commands, blpop_timeout):
    """The indexes (set of int) into ``commands`` (a list of ``Command``) of
    receive loops that woke because their blocking pop (BLMPOP, or BLPOP
    before 2026-12-05) timed out: such a pop, and the command its
    connection sent next, ``IDLE_GAP_SHARE`` of ``blpop_timeout`` (s) or
    more later. A pop followed by nothing in ``commands`` is not one."""
    idle = set()
    last_blpop = {}
    for index, command in enumerate(commands):
        if command.client == "lua":
            continue
        earlier = last_blpop.pop(command.client, None)
        if earlier is not None and command.time - commands[earlier].time >= (
            IDLE_GAP_SHARE * blpop_timeout
        ):
            idle.update((earlier, index))
        if command.name in BLOCKING_POPS:
            last_blpop[command.client] = index
    return idle


def postgresql_kind(text):
    """``(kind, hop)`` of a PostgreSQL statement's ``text`` (str), from
    ``POSTGRESQL_KINDS``; an unknown statement is its own kind, its first
    60 characters, in ``worker_other``."""
    squeezed = " ".join(text.split()).lower()
    for kind, hop, pattern in POSTGRESQL_KINDS:
        if re.search(pattern, squeezed):
            return kind, hop
    return squeezed[:60], "worker_other"


class Tally:
    """The counts of one section for ``messages`` (int) messages: by hop
    and label (``hops``, a dict of hop to ``Counter``), and by hop for each
    message (``per_message``, a list of ``Counter``)."""

    def __init__(self, messages):
        self.hops = defaultdict(Counter)
        self.per_message = [Counter() for _ in range(messages)]

    def add(self, hop, label, message):
        """Count one ``label`` (str) in ``hop`` (str), for ``message`` (its
        index, int), or for none (None: before the first was sent)."""
        self.hops[hop][label] += 1
        if message is not None:
            self.per_message[message][hop] += 1

    def total(self):
        """Everything counted (int)."""
        return sum(sum(counter.values()) for counter in self.hops.values())


def _per_message(counter, messages):
    return {label: round(count / messages, 3) for label, count in sorted(counter.items())}


def _spread(per_message, hops):
    totals = [sum(counts[hop] for hop in hops) for counts in per_message]
    if not totals:
        return None
    return {"min": min(totals), "median": statistics.median(totals), "max": max(totals)}


def redis_section(commands, processes_by_port, scripts, prefix, messages, blpop_timeout):
    """The ``redis`` section of the record (dict) from ``commands``: the
    MONITOR lines from the window's first ``INFO commandstats`` to its last,
    both included, with the per-message ECHO marks in between.

    ``processes_by_port`` maps client ports to report names
    (``client_ports``); ``messages`` (int) is how many were sent."""
    hot, inside = Tally(messages), Tally(messages)
    background, background_in_scripts = Counter(), 0
    idle = idle_wakeups(commands, blpop_timeout)
    mark = re.compile(rb"^%s:(\d+)$" % re.escape(SCENARIO.encode()))
    message = None
    script_hop = None
    # The first and the last are the window's INFO commandstats.
    for index, command in enumerate(commands[1:-1], 1):
        if command.client == "lua":
            if script_hop is None:
                continue
            if script_hop == BACKGROUND:
                background_in_scripts += 1
            else:
                inside.add(script_hop, command.name, message)
            continue
        name = processes_by_port.get(_port(command.client))
        role = role_of(name)
        if role == BENCH:
            found = mark.match(command.args[1]) if command.name == "ECHO" else None
            if found:
                message = int(found[1])
            script_hop = None
            continue
        if index in idle:
            hop, label = BACKGROUND, "idle receive: " + redis_label(command, scripts)[0]
        else:
            hop, label = redis_hop(role, command, scripts, prefix)
        script_hop = hop if command.name in ("EVAL", "EVALSHA") else None
        if hop == BACKGROUND:
            background[label] += 1
        else:
            hot.add(hop, label, message)
    counted, in_scripts = hot.total(), inside.total()
    by_command = Counter()
    for counter in hot.hops.values():
        for label, count in counter.items():
            by_command[label.split(" ", 1)[0]] += count
    return {
        "per_message": round(counted / messages, 3),
        "hops": {hop: _per_message(hot.hops[hop], messages) for hop in REDIS_HOPS if hot.hops[hop]},
        "hop_totals": {
            hop: round(sum(hot.hops[hop].values()) / messages, 3)
            for hop in REDIS_HOPS
            if hot.hops[hop]
        },
        "by_command": _per_message(by_command, messages),
        "spread": _spread(hot.per_message, REDIS_HOPS),
        "in_scripts": {
            "per_message": round(in_scripts / messages, 3),
            "hops": {
                hop: _per_message(inside.hops[hop], messages)
                for hop in REDIS_HOPS
                if inside.hops[hop]
            },
        },
        "total": counted,
        "background": dict(sorted(background.items())),
        "background_in_scripts": background_in_scripts,
    }


def postgresql_section(statements, processes_by_port, marks, messages):
    """The ``postgresql`` section of the record (dict) from ``statements``
    (the ``Statement``s of the window), with ``marks`` (the
    ``time.monotonic()`` at which each message was sent, a list of float)
    and ``processes_by_port`` as in ``redis_section``."""
    hot, cached, background = Tally(messages), Counter(), Counter()
    for statement in statements:
        role = role_of(processes_by_port.get(statement.client_port))
        if role == BENCH:
            continue
        kind, hop = postgresql_kind(statement.text)
        if hop == BACKGROUND:
            background[kind] += 1
            continue
        if hop == CACHED:
            cached[kind] += 1
            continue
        if role == DAPHNE:
            hop = "daphne_other"
        elif role != WORKER:
            hop = "unattributed"
        message = sum(1 for at in marks if at <= statement.at) - 1
        hot.add(hop, kind, message if message >= 0 else None)
    counted = hot.total()
    return {
        "per_message": round(counted / messages, 3),
        "hops": {
            hop: _per_message(hot.hops[hop], messages) for hop in POSTGRESQL_HOPS if hot.hops[hop]
        },
        "spread": _spread(hot.per_message, POSTGRESQL_HOPS),
        "total": counted,
        "cached_lookups": dict(sorted(cached.items())),
        "background": dict(sorted(background.items())),
    }


def _port(client):
    host, _, port = client.rpartition(":")
    return int(port) if host and port.isdigit() else None


def is_info_commandstats(command):
    """Whether ``command`` (a ``Command``) is ``INFO commandstats``, which
    marks the window's ends: nothing but this module sends it."""
    return command.name == "INFO" and command.args[1:] == (b"commandstats",)


def send_messages(split, messages, mark, progress=None):
    """Two members join a new room on ``split`` (a ``bench.split.Split``)
    and send ``WARMUP_MESSAGES``; after ``QUIET_S``, they send ``messages``
    (int) more, in turn, one at a time, each once the previous one reached
    both members and ``SETTLE_S`` passed. ``mark(n)`` is called before
    message ``n`` (int, from 0) is sent, and ``mark(None)`` ``END_SETTLE_S``
    after the last has arrived; ``progress()``, when given, after each
    message. Raises ``TimeoutError`` when a message does not reach a
    member within the client's timeout. The sockets are closed at the end.
    """
    label = unique_label("round-trips")
    members = [ChatClient(split, label), ChatClient(split, label)]
    handles = ("ann", "bob")

    def one(number, text):
        members[number % 2].send(handles[number % 2], text)
        for member in members:
            member.receive_until(lambda frame: frame.get("message") == text)
        time.sleep(SETTLE_S)

    try:
        for number in range(WARMUP_MESSAGES):
            one(number, "warm-up %d" % number)
        time.sleep(QUIET_S)
        for number in range(messages):
            mark(number)
            one(number, "round trip %d" % number)
            if progress is not None:
                progress()
        time.sleep(END_SETTLE_S)
        mark(None)
    finally:
        for member in members:
            member.close()


def measure(target, monitor, counter, messages, progress=None):
    """Send ``messages`` (int) through a 2-member room on the booted
    ``target`` (a ``sweep.Target`` with its ``split``), watched by
    ``monitor`` (a ``RedisMonitor`` on its Redis) and ``counter`` (the
    ``PostgresCounter`` in front of its database). Returns the
    ``(redis, postgresql, check, window_s)``: the sections of the record
    (dicts; ``check`` compares what MONITOR showed with ``INFO
    commandstats``) and how long the window lasted (s)."""
    from asgi_redis import RedisChannelLayer

    window = {}
    marks = []

    def mark(number):
        if number == 0:
            window["before"] = monitor.commandstats()
            window["first"] = monitor.wait_for(is_info_commandstats)
            window["statements"] = len(counter.statements)
            window["start"] = time.monotonic()
        if number is None:
            window["after"] = monitor.commandstats()
            window["last"] = monitor.wait_for(is_info_commandstats, start=window["first"] + 1)
            window["statements_end"] = len(counter.statements)
            window["seconds"] = time.monotonic() - window["start"]
            return
        monitor.mark("%s:%d" % (SCENARIO, number))
        marks.append(time.monotonic())

    send_messages(target.split, messages, mark, progress)
    watched = dict(target.processes, **{BENCH: os.getpid()})
    commands = monitor.commands[window["first"] : window["last"] + 1]
    redis_figures = redis_section(
        commands,
        client_ports(watched, monitor.address[1]),
        script_names(),
        target.redis_prefix,
        messages,
        RedisChannelLayer.blpop_timeout,
    )
    postgresql = postgresql_section(
        counter.statements[window["statements"] : window["statements_end"]],
        client_ports(watched, counter.port),
        marks,
        messages,
    )
    ran = sum(window["after"].values()) - sum(window["before"].values())
    # The first INFO is counted in ``after``, the last in neither; MONITOR
    # showed both.
    check = {
        "monitor_lines": len(commands) - 2,
        "commandstats_calls": ran - 1,
        "complete": len(commands) - 2 == ran - 1,
    }
    return redis_figures, postgresql, check, round(window["seconds"], 3)


def count_round_trips(workers=2, messages=DEFAULT_MESSAGES, postgres_url=None, progress=None):
    """Boot a split of one Daphne and ``workers`` (int) workers on the
    chat's layer against a ``redis-server`` started for it and PostgreSQL
    (the server at ``postgres_url``, default as
    ``services.default_postgres_url``) through a ``PostgresCounter``; send
    ``messages`` (int, at least 1) through a 2-member room, one at a time;
    return the record (dict; docs/benchmark.md, "Round trips per message").
    ``progress()``, when given, is called after each message.

    Only the chat's layer: the hops are told apart by its scripts, and
    stock asgi_redis's Daphne opens a connection pool for every message,
    gone before it could be put down to its process.

    Raises ``ValueError`` for a count below 1, ``bench.split.ProcessFailed``
    when the split does not come up, ``FileNotFoundError`` without
    ``redis-server`` and ``TimeoutError`` when a message is lost; the split,
    the servers and the scratch database are torn down either way.
    """
    if messages < 1 or workers < 1:
        raise ValueError("Count at least 1 message on at least 1 worker.")
    started = time.time()
    server = services.RedisServer().start()
    try:
        with (
            PostgresCounter(postgres_url or services.default_postgres_url()) as counter,
            sweep.SweepServices(server.url, counter.url) as booted,
            booted.boot("chat", workers) as target,
            RedisMonitor(server.url) as monitor,
        ):
            redis_figures, postgresql, check, window_s = measure(
                target, monitor, counter, messages, progress
            )
            version = monitor.control.info("server")["redis_version"]
    finally:
        server.stop()
    return {
        "scenario": SCENARIO,
        "layer": "chat",
        "workers": workers,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "conditions": {
            "daphnes": 1,
            "rooms": 1,
            "members": 2,
            "senders": 2,
            "messages": messages,
            "warmup_messages": WARMUP_MESSAGES,
            "one_at_a_time": True,
            "settle_s": SETTLE_S,
            "redis": "redis-server %s of its own, watched with MONITOR" % version,
            "postgresql": "through a proxy counting Query, Sync and FunctionCall messages",
        },
        "sent": messages,
        # send_messages waits for each message at both members, or raises.
        "delivered": messages * 2,
        "window_s": window_s,
        "redis": dict(redis_figures, check=check),
        "postgresql": postgresql,
        "target": target.describe(),
    }


def markdown_table(record):
    """The per-hop table (str, Markdown) of a round-trips ``record``: a row
    per hop and command with its count per message; a hop's first row also
    gives what its scripts ran inside Redis, per message."""
    redis_figures, postgresql = record["redis"], record["postgresql"]
    lines = [
        "| hop | service | command | per message | run inside its scripts, per message |",
        "|---|---|---|---|---|",
    ]
    for hop in REDIS_HOPS:
        inside = _counts(redis_figures["in_scripts"]["hops"].get(hop, {}))
        for label, count in redis_figures["hops"].get(hop, {}).items():
            lines.append(
                "| %s | Redis | %s | %s | %s |" % (HOP_TITLES[hop], label, _figure(count), inside)
            )
            inside = ""
    for hop in POSTGRESQL_HOPS:
        for kind, count in postgresql["hops"].get(hop, {}).items():
            lines.append(
                "| %s | PostgreSQL | %s | %s | |" % (HOP_TITLES[hop], kind, _figure(count))
            )
    lines.append(
        "| all | Redis | %s | **%s** | %s |"
        % (
            _counts(redis_figures["by_command"]),
            _figure(redis_figures["per_message"]),
            _figure(redis_figures["in_scripts"]["per_message"]),
        )
    )
    lines.append("| all | PostgreSQL | | **%s** | |" % _figure(postgresql["per_message"]))
    notes = [
        "%d messages through a 2-member room, one at a time; %s worker(s), layer %s"
        % (record["sent"], record["workers"], record["layer"])
    ]
    if postgresql["cached_lookups"]:
        notes.append(
            "PostgreSQL lookups answered by a cache most of the time, in all: "
            + ", ".join("%s %d" % item for item in postgresql["cached_lookups"].items())
        )
    notes.append(
        "background left out: %d Redis commands, %d PostgreSQL round trips"
        % (sum(redis_figures["background"].values()), sum(postgresql["background"].values()))
    )
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + ".\n"


def _counts(counts):
    """``{"GET": 1.0, "SET": 0.5}`` as ``"GET 1, SET 0.5"``."""
    return ", ".join("%s %s" % (name, _figure(count)) for name, count in counts.items())


def _figure(value):
    """A count per message (float or None) with at most two decimals."""
    if value is None:
        return "—"
    return ("%.2f" % value).rstrip("0").rstrip(".")
