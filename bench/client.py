"""The load generator: chat clients on one asyncio event loop.

Each member loads the room page ``/<label>/`` as a browser would, then
opens ``/chat/<label>/`` with an ``Origin`` of the chat's own base URL (the
server refuses any other). Senders put the run's identity into every
message, ``b:<run>:<sender>:<seq>``, so that each receiver can time and
count it: the latency of one delivery is its receive time minus the time
the frame was handed to the socket, both ``time.monotonic()`` of this one
process.

Open-loop scenarios follow a fixed schedule of send times, whatever the
server does, so a slow server shows up as latency and a backlog rather
than as a politely lower rate. Closed-loop ones send as soon as a sender's
previous message has come back, to find the rate the workers sustain.

A scenario with ``change_every`` has its members pick guest names, each
through its own cookies, and its senders edit and react now and then; the
change frames every member receives are counted beside the messages.

A scenario with ``flood_frames`` adds a ``Flooder`` to the first room: one
more socket that sends that many frames as fast as it can from the start
of the sending, and counts the error frames and the close it gets back.
"""

import asyncio
import json
import logging
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.keeping_up import GAP, Timeline

logger = logging.getLogger(__name__)

# How long one member may take to load the page and finish the WebSocket
# handshake, in seconds. Daphne itself gives up on an unanswered handshake
# after 20 s (its websocket_connect_timeout), so this only catches a server
# that stopped answering altogether.
JOIN_TIMEOUT_S = 60.0

# How long a closing handshake may take, in seconds, before the socket is
# dropped: closing is not measured, so there is no point waiting long.
CLOSE_TIMEOUT_S = 5.0

# A closed-loop sender whose message has not come back in this many seconds
# presumes it lost and sends the next one; without this, one lost message
# would stop that sender for the rest of the run.
ECHO_TIMEOUT_S = 5.0

# The drain ends early once nothing at all has arrived for this many
# seconds: a message still missing by then was dropped, not delayed.
DRAIN_IDLE_S = 5.0

# The frames of docs/protocol.md's "Presence" (and the pong that answers the
# ping a member opts in with): counted, not timed.
PRESENCE_TYPES = frozenset({"presence", "join", "leave", "typing", "pong"})

# The reaction a ``changes`` sender toggles on another member's message.
REACTION = "\N{THUMBS UP SIGN}"

# How often the drain and the progress bar look at the counters, in seconds.
POLL_S = 0.05

# The handle the flooder's messages carry, so that what the workers stored
# of them can be counted.
FLOOD_HANDLE = "bench-flood"


@dataclass
class Phases:
    """When each phase of a run began, in ``time.monotonic()`` seconds.

    ``connect_start`` and ``connected`` bracket the joins; ``held`` (idle
    scenarios only) is the end of the idle hold; ``send_start`` and
    ``send_end`` bracket the sending, ``drain_end`` the wait for stragglers.
    """

    connect_start: float = 0.0
    connected: float = 0.0
    held: float | None = None
    send_start: float = 0.0
    send_end: float = 0.0
    drain_end: float = 0.0


@dataclass
class LoadResult:
    """The raw outcome of one run of a scenario.

    Counts are ints; ``latencies_ms`` holds one sample per delivery (ms),
    ``send_lag_ms`` one per open-loop send (actual minus scheduled send
    time, ms), ``connect_ms`` one per joined member (page load plus
    handshake, ms). ``expected`` is the sum over sent messages of the
    number of members that joined the message's room. ``handled`` counts
    distinct messages that reached at least one member. ``gaps`` counts the
    live gaps in ``seq`` members saw, each one a catch-up over HTTP that a
    real client would have made (docs/protocol.md, "Keeping up"; the load
    generator makes none). ``first_send`` and
    ``last_delivery`` are ``time.monotonic()`` seconds, or None;
    ``started_at`` is when the run began, in Unix time (s).
    ``changes_sent`` counts the edits and reactions sent, ``changes_expected``
    the sum over them of their room's joined members, ``changes_delivered``
    the change frames members received (each member's once per ``seq``).
    """

    run_id: str
    sockets: int
    started_at: float = field(default_factory=time.time)
    joined: int = 0
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    handled: int = 0
    duplicates: int = 0
    gaps: int = 0
    presence_frames: int = 0
    foreign_frames: int = 0
    failed_pages: int = 0
    failed_connects: int = 0
    disconnects: int = 0
    send_failures: int = 0
    echo_timeouts: int = 0
    changes_sent: int = 0
    changes_expected: int = 0
    changes_delivered: int = 0
    error_codes: Counter = field(default_factory=Counter)
    close_codes: Counter = field(default_factory=Counter)
    latencies_ms: array = field(default_factory=lambda: array("d"))
    send_lag_ms: array = field(default_factory=lambda: array("d"))
    connect_ms: array = field(default_factory=lambda: array("d"))
    first_send: float | None = None
    last_delivery: float | None = None
    phases: Phases = field(default_factory=Phases)
    flood: "FloodResult | None" = None
    # /stream/ sockets (added 2026-12-05): how many opened, the ``rooms``
    # frames each member's received from the start of the sending on
    # (member id to int), and the payload of the last one each received.
    stream_sockets: int = 0
    stream_failed: int = 0
    stream_frames: Counter = field(default_factory=Counter)
    stream_last: dict = field(default_factory=dict)


@dataclass
class FloodResult:
    """What the flooder of a run did and got back.

    ``frames`` were planned, ``sent`` handed to the socket (ints).
    ``error_codes`` counts the error frames it received by code;
    ``close_code`` is the server's close code (int, or None if the socket
    was still open when the run ended). ``started`` and ``ended`` are
    ``time.monotonic()`` seconds of its first send and of its close (or of
    the end of the run); ``joined`` says whether it connected at all.
    """

    frames: int
    joined: bool = False
    sent: int = 0
    error_codes: Counter = field(default_factory=Counter)
    close_code: int | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def duration_s(self):
        """Seconds (float) from its first send to its close, or None."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


class Ledger:
    """The run's bookkeeping: when each message was sent, and every
    delivery of it, into ``result`` (a ``LoadResult``)."""

    def __init__(self, result, message_size=0, presence=True, change_every=0, stream=False):
        self.result = result
        self.presence = presence
        self.change_every = change_every
        self.stream = stream
        self.prefix = "b:%s:" % result.run_id
        self.message_size = message_size
        self.sent_at = {}
        self._handled = set()

    def text(self, sender, seq):
        """The message text (str) for message ``seq`` of member ``sender``,
        padded with ``.`` to ``message_size`` characters when that is longer."""
        text = "%s%d:%d:" % (self.prefix, sender, seq)
        return text.ljust(self.message_size, ".")

    def parse(self, text):
        """The ``(sender, seq)`` pair of ints a message text of this run
        carries, or None for any other text."""
        if not isinstance(text, str) or not text.startswith(self.prefix):
            return None
        parts = text[len(self.prefix) :].split(":", 2)
        try:
            return int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            return None

    def on_frame(self, member, data, now):
        """Account for one text frame ``data`` (str) that ``member`` received
        at ``now`` (monotonic s)."""
        result = self.result
        try:
            frame = json.loads(data)
        except ValueError:
            result.foreign_frames += 1
            return
        if not isinstance(frame, dict):
            result.foreign_frames += 1
            return
        if frame.get("type") in PRESENCE_TYPES:
            result.presence_frames += 1
            return
        if "error" in frame:
            result.error_codes[str(frame["error"])] += 1
            return
        if frame.get("type") == "change":
            self._on_change(member, frame)
            return
        if "seq" in frame:
            timeline = member.timeline
            if timeline.receive(frame) == GAP:
                # No history is fetched here: count the catch-up a real
                # client would make, and let the timeline go past the gap.
                result.gaps += 1
                timeline.begin_catch_up()
                timeline.end_catch_up()
        key = self.parse(frame.get("message"))
        sent_at = self.sent_at.get(key) if key is not None else None
        if sent_at is None:
            result.foreign_frames += 1
            return
        if key in member.seen:
            result.duplicates += 1
            return
        member.seen.add(key)
        if key[0] == member.id:
            member.own_latest = frame.get("id")
        else:
            member.others_latest = frame.get("id")
        result.delivered += 1
        result.latencies_ms.append((now - sent_at) * 1000.0)
        result.last_delivery = now
        if key not in self._handled:
            self._handled.add(key)
            result.handled += 1
        if key[0] == member.id and member.on_echo is not None:
            member.on_echo()

    def _on_change(self, member, frame):
        """Count a change frame ``frame`` (dict) once per member and ``seq``."""
        result = self.result
        seq = frame.get("seq")
        if member.timeline.receive(frame) == GAP:
            result.gaps += 1
            member.timeline.begin_catch_up()
            member.timeline.end_catch_up()
        if seq in member.changes_seen:
            result.duplicates += 1
            return
        member.changes_seen.add(seq)
        result.changes_delivered += 1


class Room:
    """One room of the run: its ``label`` (str) and ``members`` (list of
    ``Member``)."""

    def __init__(self, label):
        self.label = label
        self.members = []

    @property
    def joined(self):
        """How many members joined (int)."""
        return sum(1 for member in self.members if member.ws is not None)


class Member:
    """One client: a page load, then a WebSocket, and a task reading it.

    ``id`` (int) is unique within the run and names the member as a sender.
    ``timeline`` (a ``keeping_up.Timeline``) follows the room's ``seq`` as
    the member receives it.
    """

    def __init__(self, ledger, room, member_id):
        self.ledger = ledger
        self.room = room
        self.id = member_id
        self.ws = None
        self.seen = set()
        # Order only: ``seen`` already remembers what arrived.
        self.timeline = Timeline(keep_shown=False, follow_changes=bool(ledger.change_every))
        self.on_echo = None
        self.closing = False
        self.reader = None
        # For changes: the ids (int) of the latest message of its own and of
        # another member's it received, and the seqs of change frames.
        self.own_latest = None
        self.others_latest = None
        self.changes_seen = set()
        self.sent_changes = 0
        # The HTTP session's cookie, once it picked a guest name, or that
        # of the signed-in user it was given.
        self.cookie = None
        # Its /stream/ socket and the task reading it, for a stream scenario.
        self.stream_ws = None
        self.stream_reader = None

    async def join(self, session, base_url):
        """Load the room page, open the WebSocket and start reading it.

        Returns True when joined; a failure is counted in the result
        (``failed_pages`` or ``failed_connects``) and returns False.
        """
        result = self.ledger.result
        started = time.monotonic()
        page_url = "%s/%s/" % (base_url, self.room.label)
        headers = {"Cookie": self.cookie} if self.cookie else None
        try:
            async with session.get(page_url, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise aiohttp.ClientResponseError(
                        response.request_info, (), status=response.status
                    )
                csrf = response.cookies.get("csrftoken")
            if self.ledger.change_every:
                await self._pick_name(session, page_url, csrf)
        except (aiohttp.ClientError, TimeoutError) as error:
            result.failed_pages += 1
            logger.debug("Page load of %s failed: %r", page_url, error)
            return False
        ws_url = "%s/chat/%s/" % (base_url.replace("http", "ws", 1), self.room.label)
        try:
            self.ws = await session.ws_connect(
                ws_url,
                origin=base_url,
                headers={"Cookie": self.cookie} if self.cookie else None,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            result.failed_connects += 1
            logger.debug("WebSocket %s failed: %r", ws_url, error)
            return False
        result.connect_ms.append((time.monotonic() - started) * 1000.0)
        result.joined += 1
        self.reader = asyncio.create_task(self._read())
        if self.ledger.stream:
            await self._open_stream(session, base_url)
        if self.ledger.presence:
            # A socket with no session hears presence once it sends a typed
            # frame (docs/protocol.md); the page's client pings on open too.
            await self.ws.send_str('{"type": "ping"}')
        return True

    async def _open_stream(self, session, base_url):
        """Open this signed-in member's ``/stream/`` socket and count its
        ``rooms`` frames from the start of the sending on."""
        result = self.ledger.result
        try:
            self.stream_ws = await session.ws_connect(
                "%s/stream/" % base_url.replace("http", "ws", 1),
                origin=base_url,
                headers={"Cookie": self.cookie},
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            result.stream_failed += 1
            logger.debug("The /stream/ socket of member %d failed: %r", self.id, error)
            return
        result.stream_sockets += 1
        self.stream_reader = asyncio.create_task(self._read_stream())

    async def _read_stream(self):
        result = self.ledger.result
        phases = result.phases
        async for message in self.stream_ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("stream") != "rooms":
                continue
            if phases.send_start and time.monotonic() >= phases.send_start:
                result.stream_frames[self.id] += 1
            result.stream_last[self.id] = frame["payload"]

    async def _pick_name(self, session, page_url, csrf):
        """Pick a guest name through the room page's form, as a person
        would, and keep the session cookie it sets (``self.cookie``), so
        that the socket speaks as that guest. Raises
        ``aiohttp.ClientResponseError`` unless the form accepts it."""
        if csrf is None:
            raise aiohttp.ClientError("The room page set no CSRF cookie.")
        name = "b%d-%s" % (self.id, self.ledger.result.run_id)
        async with session.post(
            page_url + "name/",
            data={"name": name, "csrfmiddlewaretoken": csrf.value},
            headers={"Cookie": "csrftoken=%s" % csrf.value, "Referer": page_url},
            allow_redirects=False,
        ) as response:
            await response.read()
            sessionid = response.cookies.get("sessionid")
            if response.status != 302 or sessionid is None:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
        self.cookie = "sessionid=%s" % sessionid.value

    async def _read(self):
        ws = self.ws
        on_frame = self.ledger.on_frame
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                on_frame(self, message.data, time.monotonic())
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
        if not self.closing:
            result = self.ledger.result
            result.disconnects += 1
            result.close_codes[str(ws.close_code)] += 1
            logger.debug("Member %d was disconnected (code %s)", self.id, ws.close_code)

    async def send(self, seq, scheduled=None):
        """Send message ``seq`` of this member. ``scheduled`` is its planned
        send time (monotonic s) for open-loop runs, or None.

        Returns True when the frame was handed to the socket."""
        ledger = self.ledger
        result = ledger.result
        if self.ws is None or self.ws.closed:
            result.send_failures += 1
            return False
        key = (self.id, seq)
        frame = json.dumps({"handle": "bench-%d" % self.id, "message": ledger.text(*key)})
        # Recorded before the frame leaves, so that no echo can come back
        # before its send time is known.
        now = time.monotonic()
        ledger.sent_at[key] = now
        try:
            await self.ws.send_str(frame)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as error:
            del ledger.sent_at[key]
            result.send_failures += 1
            logger.debug("Member %d could not send: %r", self.id, error)
            return False
        if result.first_send is None:
            result.first_send = now
        if scheduled is not None:
            result.send_lag_ms.append(max(0.0, now - scheduled) * 1000.0)
        result.sent += 1
        result.expected += self.room.joined
        every = ledger.change_every
        if every and (seq + 1) % every == 0:
            await self.send_change()
        return True

    async def send_change(self):
        """Send one change: an edit of this member's latest message and a
        reaction to another member's latest, in turn (whichever there is).
        Returns True when a frame was handed to the socket."""
        result = self.ledger.result
        if self.sent_changes % 2 == 0 and self.own_latest is not None:
            frame = {
                "type": "edit",
                "id": self.own_latest,
                "message": "%sedit:%d" % (self.ledger.prefix, self.sent_changes),
            }
        elif self.others_latest is not None:
            frame = {"type": "react", "id": self.others_latest, "emoji": REACTION}
        else:
            return False
        self.sent_changes += 1
        try:
            await self.ws.send_str(json.dumps(frame))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as error:
            result.send_failures += 1
            logger.debug("Member %d could not send a change: %r", self.id, error)
            return False
        result.changes_sent += 1
        result.changes_expected += self.room.joined
        return True

    async def close(self):
        """Close the WebSocket (if open) and stop reading it."""
        self.closing = True
        await close_socket(self.ws, self.reader)
        await close_socket(self.stream_ws, self.stream_reader)


async def close_socket(ws, reader):
    """Close the aiohttp WebSocket ``ws`` (if any and open; closing is not
    measured, so its errors are ignored) and cancel its ``reader`` task (if
    any), waiting for it to end."""
    if ws is not None and not ws.closed:
        try:
            await ws.close()
        except (aiohttp.ClientError, ConnectionError, TimeoutError):
            pass
    if reader is not None:
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            pass


class Flooder:
    """One socket in ``room`` (a ``Room``; not one of its members) that
    sends ``frames`` (int) messages as fast as the socket takes them,
    recording into ``result`` (a ``FloodResult``)."""

    def __init__(self, room, frames):
        self.room = room
        self.result = FloodResult(frames=frames)
        self.ws = None
        self.reader = None

    async def join(self, session, base_url):
        """Open the WebSocket and start reading it; returns True when joined."""
        ws_url = "%s/chat/%s/" % (base_url.replace("http", "ws", 1), self.room.label)
        try:
            self.ws = await session.ws_connect(
                ws_url,
                origin=base_url,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("The flooder could not connect: %r", error)
            return False
        self.result.joined = True
        self.reader = asyncio.create_task(self._read())
        return True

    async def _read(self):
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(frame, dict) and "error" in frame:
                    self.result.error_codes[str(frame["error"])] += 1
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
        self.result.close_code = self.ws.close_code
        self.result.ended = time.monotonic()

    async def flood(self):
        """Send every frame, or as many as the socket takes before it closes."""
        result = self.result
        if self.ws is None:
            return
        result.started = time.monotonic()
        for n in range(result.frames):
            if self.ws.closed:
                break
            frame = json.dumps({"handle": FLOOD_HANDLE, "message": "flood %d" % n})
            try:
                await self.ws.send_str(frame)
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                break
            result.sent += 1

    async def close(self):
        """Close the socket (if open) and stop reading it."""
        await close_socket(self.ws, self.reader)
        if self.result.ended is None and self.result.started is not None:
            self.result.ended = time.monotonic()


def new_run_id():
    """A fresh run identity (str, 8 hex digits), part of every room label
    and message text of the run."""
    return uuid.uuid4().hex[:8]


def label_prefix(run_id):
    """The label prefix (str) shared by every room of run ``run_id``."""
    return "bench-%s-" % run_id


class NullProgress:
    """A progress bar that shows nothing; stands in for tqdm when asked to be quiet."""

    n = 0

    def update(self, count=1):
        """Advance by ``count``."""
        self.n += count

    def close(self):
        """Finish the bar."""


def null_progress(total=None, desc=""):
    """A ``NullProgress`` whatever ``total`` (int or None) and ``desc`` (str)."""
    return NullProgress()


async def run_load(
    base_url,
    scenario,
    duration,
    drain,
    connect_concurrency=50,
    message_size=0,
    presence=True,
    run_id=None,
    on_phase=None,
    progress=null_progress,
    session_keys=None,
):
    """Run ``scenario`` (a ``Scenario``) against the chat at ``base_url``
    (e.g. ``http://127.0.0.1:8000``) and return a ``LoadResult``.

    Sending lasts ``duration`` seconds (for an idle scenario, the sockets
    are held that long before the one broadcast); then deliveries are
    awaited for at most ``drain`` seconds. At most ``connect_concurrency``
    members join at once. With ``presence`` each member pings once it has
    joined, so it takes presence frames as the room page does (counted in
    ``presence_frames``). ``message_size`` pads messages to that many
    characters. ``run_id`` (str, from ``new_run_id``; a fresh one when
    None) names the rooms and messages. ``on_phase(name)`` is called as
    each phase of ``Phases`` begins, so that a caller can sample the
    processes then; ``progress`` makes a tqdm-like bar from ``total`` and
    ``desc``. ``session_keys`` (list of str, one per member in order, or
    None) signs the members in, for a ``signed_in`` scenario; a ``stream``
    scenario's members then also open ``/stream/``.

    Connection failures and server errors are counted, not raised.
    """
    run_id = run_id or new_run_id()
    result = LoadResult(run_id=run_id, sockets=scenario.sockets)
    ledger = Ledger(result, message_size, presence, scenario.change_every, scenario.stream)
    rooms = [Room("%s%d" % (label_prefix(run_id), n)) for n in range(scenario.rooms)]
    members = []
    for room in rooms:
        for _ in range(scenario.members):
            member = Member(ledger, room, len(members))
            if session_keys is not None:
                member.cookie = "sessionid=%s" % session_keys[len(members)]
            room.members.append(member)
            members.append(member)
    phases = result.phases

    def mark(name):
        setattr(phases, name, time.monotonic())
        if on_phase is not None:
            on_phase(name)

    flooder = None
    # No connection limit: every member holds a socket of its own for the run.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=JOIN_TIMEOUT_S)
    # Members that pick names each keep their own session cookie, which one
    # shared cookie jar would mix up.
    jar = aiohttp.DummyCookieJar() if scenario.change_every or session_keys else None
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=jar
    ) as session:
        try:
            mark("connect_start")
            await _join_all(session, base_url, members, connect_concurrency, progress, scenario)
            if scenario.flood_frames:
                flooder = Flooder(rooms[0], scenario.flood_frames)
                result.flood = flooder.result
                await flooder.join(session, base_url)
            mark("connected")
            senders = [m for room in rooms for m in room.members[: scenario.senders] if m.ws]
            if scenario.idle:
                await asyncio.sleep(duration)
                mark("held")
                planned = rooms[0].joined
                sending = senders[0].send(0) if senders else asyncio.sleep(0)
            elif scenario.rate is not None:
                planned = int(round(scenario.rate * duration)) * scenario.members
                sending = _open_loop(senders, scenario.rate, duration)
            else:
                planned = None
                sending = _closed_loop(senders, scenario.window, duration, result)
            bar = progress(total=planned, desc="%s: deliveries" % scenario.name)
            ticker = asyncio.create_task(_tick(bar, result))
            try:
                mark("send_start")
                if flooder is not None:
                    sending = asyncio.gather(sending, flooder.flood())
                await sending
                mark("send_end")
                await _drain(result, drain)
                if scenario.stream:
                    await _settle_streams(result, members, drain)
                mark("drain_end")
            finally:
                ticker.cancel()
                bar.update(result.delivered - bar.n)
                bar.close()
        finally:
            closing = [member.close() for member in members]
            if flooder is not None:
                closing.append(flooder.close())
            await asyncio.gather(*closing)
    logger.debug("Run %s: %d of %d deliveries", run_id, result.delivered, result.expected)
    return result


async def _settle_streams(result, members, drain):
    """Wait, at most ``drain`` seconds, until every ``/stream/`` socket's
    last payload counts every message sent as unread: the trailing flush
    that ends a burst arrives up to a second after its last message."""
    deadline = time.monotonic() + drain
    streams = [member.id for member in members if member.stream_ws is not None]
    while time.monotonic() < deadline:
        last = result.stream_last
        if all(last.get(ident, {}).get("unread") == result.sent for ident in streams):
            return
        await asyncio.sleep(POLL_S)


async def _join_all(session, base_url, members, concurrency, progress, scenario):
    gate = asyncio.Semaphore(concurrency)
    bar = progress(total=len(members), desc="%s: connect" % scenario.name)

    async def join(member):
        async with gate:
            await member.join(session, base_url)
        bar.update(1)

    try:
        await asyncio.gather(*(join(member) for member in members))
    finally:
        bar.close()


async def _tick(bar, result):
    """Keep ``bar`` at the number of deliveries so far, until cancelled."""
    while True:
        await asyncio.sleep(POLL_S * 4)
        bar.update(result.delivered - bar.n)


async def _open_loop(senders, rate, duration):
    """Send ``rate * duration`` messages on a fixed schedule: message k at
    start + k / rate, round-robin over ``senders``, whatever the replies."""
    if not senders:
        return
    total = int(round(rate * duration))
    start = time.monotonic()
    for k in range(total):
        scheduled = start + k / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sender = senders[k % len(senders)]
        await sender.send(k // len(senders), scheduled)


async def _closed_loop(senders, window, duration, result):
    """Let each sender keep ``window`` messages waiting for their echo,
    sending the next as soon as one returns, for ``duration`` seconds."""
    deadline = time.monotonic() + duration

    async def pump(sender):
        credits = asyncio.Semaphore(window)
        sender.on_echo = credits.release
        seq = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(credits.acquire(), timeout=min(remaining, ECHO_TIMEOUT_S))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    break
                result.echo_timeouts += 1
            if time.monotonic() >= deadline:
                break
            if not await sender.send(seq):
                break
            seq += 1

    try:
        await asyncio.gather(*(pump(sender) for sender in senders))
    finally:
        for sender in senders:
            sender.on_echo = None


async def _drain(result, drain):
    """Wait until every expected delivery (of messages and of changes)
    arrived, ``drain`` seconds passed, or nothing arrived for
    ``DRAIN_IDLE_S`` seconds."""
    deadline = time.monotonic() + drain

    def arrived():
        return result.delivered + result.changes_delivered

    last_count = arrived()
    last_change = time.monotonic()
    while arrived() < result.expected + result.changes_expected:
        now = time.monotonic()
        if now >= deadline or now - last_change >= DRAIN_IDLE_S:
            break
        await asyncio.sleep(POLL_S)
        if arrived() != last_count:
            last_count = arrived()
            last_change = time.monotonic()
