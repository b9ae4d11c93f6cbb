"""A steady chat load whose members keep the chat's delivery promise the way
the room page does: catch up over HTTP after every (re)connect, fill any gap
in ``seq``, reconnect with backoff, and check now and then that the socket
has not silently stopped receiving (docs/protocol.md, "Keeping up"). The
rules of order, gaps and duplicates are bench/keeping_up.py's; a member does
the I/O around them.

It runs on its own asyncio loop in a thread, so a test can inject a fault
while the load goes on, then ask whether every member converged on exactly
what PostgreSQL holds.
"""

import asyncio
import collections
import random
import socket
import threading
import time
import uuid

import aiohttp

from bench import keeping_up, services

# Reconnection backoff, seconds: doubled per failure, with full jitter.
MIN_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0
# How often a member checks for stored messages it never received live, and
# how long such a message may take to arrive before it counts as missed (s).
# The room page uses 30 s and 5 s; a test has less time to spare.
CHECK_EVERY_S = 1.0
ARRIVAL_GRACE_S = 2.0
PAGE_SIZE = 500


def small_receive_buffer_socket(addr_info):
    """A client socket with a 4 KiB kernel receive buffer (aiohttp's
    ``socket_factory``). Linux lets a loopback receive buffer grow to
    tcp_rmem's maximum, often 32 MiB; a small one makes a member that stops
    reading back up into Daphne within seconds, as over a slow link."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


class Member:
    """One socket's worth of chat client; see the module docstring."""

    def __init__(self, load, label, name, sends, small_buffer=False, base_url=None):
        self.load = load
        # The web process this member talks to (its socket and its catch-ups).
        self.base_url = base_url or load.base_url
        self.small_buffer = small_buffer
        self.label = label
        self.name = name
        self.sends = sends
        # What it has shown and holds back: bench/keeping_up.py keeps the
        # order, fills gaps and drops duplicates; this class does the I/O.
        self.timeline = keeping_up.Timeline(on_show=self.shown_one)
        # One catch-up at a time, whoever asks for it.
        self.sync_lock = asyncio.Lock()
        self.errors = collections.Counter()
        self.sent = 0
        # Texts of frames sent and not yet answered, oldest first. A socket's
        # answers (its own message back, or an error frame) come in the order
        # its frames were sent, so an error frame answers the oldest.
        self.unanswered = collections.deque()
        self.accepted_at = []  # monotonic times our own messages came back
        self.connects = 0
        self.socket = None
        # Cleared, the member stops reading its socket, as a frozen client would.
        self.reading = asyncio.Event()
        self.reading.set()

    @property
    def shown(self):
        """The ids shown, in the order shown (list of ints)."""
        return self.timeline.shown

    @property
    def shown_set(self):
        """The ids shown (set of ints)."""
        return self.timeline.shown_set

    @property
    def duplicates(self):
        """Ids shown twice (int): must stay 0."""
        return self.timeline.duplicates

    @property
    def last_id(self):
        """The id of the newest message shown with all its predecessors (int)."""
        return self.timeline.last_id

    def shown_one(self, message):
        """Called once for each message as it is first shown: one of our
        own answers the frame that sent it."""
        if message["handle"] == self.name:
            self.accepted_at.append(time.monotonic())
            if message["message"] in self.unanswered:
                self.unanswered.remove(message["message"])

    async def fetch(self, query):
        url = "%s/%s/messages?%s" % (self.base_url, self.label, query)
        async with self.load.http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            return await response.json()

    async def sync(self):
        """Catch up over HTTP until no gap is left (docs/protocol.md,
        "Keeping up", step 1). Raises what a failed fetch raises."""
        timeline = self.timeline
        async with self.sync_lock:
            again = True
            while again:
                after = timeline.begin_catch_up()
                try:
                    while True:
                        page = await self.fetch("after=%d&limit=%d" % (after, PAGE_SIZE))
                        after = timeline.show_page(page["messages"])
                        if not page["has_more"]:
                            break
                except BaseException:
                    timeline.abort_catch_up()
                    raise
                again = timeline.end_catch_up()

    def receive(self, message):
        if self.timeline.receive(message) == keeping_up.GAP:
            asyncio.ensure_future(self.sync_quietly())

    async def sync_quietly(self):
        try:
            await self.sync()
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.errors["sync failed"] += 1

    async def check(self):
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            await self.reading.wait()  # a frozen client checks nothing either
            try:
                page = await self.fetch("after=%d&limit=1" % self.last_id)
            except (TimeoutError, aiohttp.ClientError, OSError):
                continue
            if page["messages"]:
                missing = page["messages"][0]["id"]
                await asyncio.sleep(ARRIVAL_GRACE_S)
                await self.reading.wait()
                if missing not in self.shown_set and self.socket is not None:
                    self.errors["missed live"] += 1
                    await self.sync_quietly()
                    await self.socket.close()

    async def speak(self):
        interval = 1.0 / self.load.rate_per_sender
        await asyncio.sleep(random.uniform(0, interval))
        while self.load.sending:
            self.sent += 1
            text = ("%s:%d " % (self.name, self.sent)).ljust(self.load.message_size, "x")
            self.unanswered.append(text)
            await self.socket.send_json({"handle": self.name, "message": text})
            await asyncio.sleep(interval)

    async def run(self):
        backoff = MIN_BACKOFF_S
        url = self.base_url.replace("http", "ws", 1) + "/chat/%s/" % self.label
        while not self.load.stopping:
            tasks = []
            try:
                http = self.load.small_buffer_http if self.small_buffer else self.load.http
                async with http.ws_connect(
                    url, origin=self.base_url, heartbeat=None, timeout=10
                ) as socket:
                    self.socket = socket
                    self.connects += 1
                    backoff = MIN_BACKOFF_S
                    await self.sync()
                    tasks.append(asyncio.ensure_future(self.check()))
                    if self.sends:
                        tasks.append(asyncio.ensure_future(self.speak()))
                    while True:
                        await self.reading.wait()
                        frame = await socket.receive()
                        if frame.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = frame.json()
                        if "error" in data:
                            self.errors[data["error"]] += 1
                            if self.unanswered:
                                self.unanswered.popleft()
                            if data["error"] == "NOT_JOINED":
                                break
                        else:
                            self.receive(data)
            except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError):
                self.errors["connect failed"] += 1
            finally:
                self.socket = None
                for task in tasks:
                    task.cancel()
            if self.load.stopping:
                break
            await asyncio.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, MAX_BACKOFF_S)


class ChatLoad:
    """``rooms`` rooms of ``members`` members each against the split at
    ``base_url`` (str), or spread in turn over several web processes of one
    split (a list of str); in each room ``senders`` members send ``rate_per_sender``
    messages/s of ``message_size`` characters while ``sending`` is on. The
    last ``small_buffers`` members of each room read through a 4 KiB kernel
    receive buffer."""

    def __init__(
        self,
        base_url,
        rooms=3,
        members=3,
        senders=2,
        rate_per_sender=4.0,
        message_size=20,
        small_buffers=0,
    ):
        self.base_urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.base_url = self.base_urls[0]
        self.rate_per_sender = rate_per_sender
        self.message_size = message_size
        self.labels = ["fault-%s-%d" % (uuid.uuid4().hex[:6], n) for n in range(rooms)]
        self.members = [
            Member(
                self,
                label,
                "m%d-%d" % (r, i),
                sends=i < senders,
                small_buffer=i >= members - small_buffers,
                base_url=self.base_urls[i % len(self.base_urls)],
            )
            for r, label in enumerate(self.labels)
            for i in range(members)
        ]
        self.sending = True
        self.stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))
        self.http = None

    async def _main(self):
        connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer_socket)
        async with (
            aiohttp.ClientSession() as http,
            aiohttp.ClientSession(connector=connector) as small_buffer_http,
        ):
            self.http, self.small_buffer_http = http, small_buffer_http
            await asyncio.gather(*(member.run() for member in self.members))

    def start(self):
        self.thread.start()
        return self

    def accepted(self):
        """How many messages came back to their senders so far (int)."""
        return sum(len(m.accepted_at) for m in self.members)

    def wait_for_accepted(self, count, timeout):
        """Wait until ``count`` more messages have been accepted; returns the
        seconds it took (float). Raises ``TimeoutError``."""
        target = self.accepted() + count
        started = time.monotonic()
        while self.accepted() < target:
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    "Only %d of %d accepted after %.0f s; errors: %s"
                    % (self.accepted(), target, timeout, self.errors())
                )
            time.sleep(0.05)
        return time.monotonic() - started

    def set_reading(self, member, reading):
        """Make ``member`` stop (False) or resume (True) reading its socket."""
        event = member.reading
        self.loop.call_soon_threadsafe(event.set if reading else event.clear)

    def errors(self):
        total = collections.Counter()
        for member in self.members:
            total.update(member.errors)
        return dict(total)

    def wait_for_answers(self, timeout=30):
        """Wait until every frame sent has been answered, by its message
        coming back (live or through a catch-up) or by an error frame.
        Raises ``AssertionError`` listing what is still unanswered after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while any(m.unanswered for m in self.members) and time.monotonic() < deadline:
            time.sleep(0.1)
        unanswered = [text for m in self.members for text in m.unanswered]
        assert not unanswered, "Frames never answered: %s" % unanswered

    def stop_sending(self):
        self.sending = False

    def stop(self):
        self.sending = False
        self.stopping = True

        async def close_all():
            for member in self.members:
                if member.socket is not None:
                    await member.socket.close()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=30)
            self.thread.join(timeout=30)

    def stored_ids(self, database_url):
        """Each room's message ids in PostgreSQL, in seq order: {label: [id, ...]}."""
        rows = services.stored_messages(database_url, labels=self.labels)
        stored = {label: [] for label in self.labels}
        for label, message_id in rows:
            stored[label].append(message_id)
        return stored

    def converge(self, database_url, timeout=60):
        """Stop sending, then wait until every member shows exactly what
        PostgreSQL holds for its room, in order, each message once.

        Returns a summary dict. Raises ``AssertionError`` naming the members
        that did not converge within ``timeout`` seconds."""
        self.stop_sending()
        deadline = time.monotonic() + timeout
        while True:
            stored = self.stored_ids(database_url)
            behind = [m for m in self.members if m.shown != stored[m.label]]
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        report = {
            "stored": sum(len(ids) for ids in stored.values()),
            "sent": sum(m.sent for m in self.members),
            "accepted": self.accepted(),
            "duplicates_shown": sum(m.duplicates for m in self.members),
            "reconnects": sum(m.connects - 1 for m in self.members),
            "errors": self.errors(),
        }
        assert not behind, "%d members never converged: %s; %s" % (
            len(behind),
            [(m.name, len(m.shown), len(stored[m.label])) for m in behind],
            report,
        )
        assert report["duplicates_shown"] == 0, report
        return report
