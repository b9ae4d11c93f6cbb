"""A blocking WebSocket client of the chat protocol, for the integration
tests and the benchmark's presence checks against the real split."""

import json
import struct
import time
import uuid

import websocket

from bench import services
from bench.split import manage


class Roster:
    """Who a client knows is in its room, kept from presence frames as
    docs/protocol.md "Presence" says: ``members`` (set of str) and
    ``anonymous`` (int)."""

    def __init__(self):
        self.members = set()
        self.anonymous = 0

    def apply(self, frame):
        kind = frame.get("type")
        if kind == "presence":
            self.members = set(frame.get("members", ()))
            self.anonymous = frame["anonymous"]
        elif kind == "join":
            self.members.add(frame["handle"])
        elif kind == "leave":
            self.members.discard(frame["handle"])


def guest_sessions(env, *names):
    """HTTP sessions holding the guest ``names`` (str), made in the split's
    database (``env``); returns their session keys (list of str)."""
    code = (
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from chat.identity import GUEST_NAME_SESSION_KEY\n"
        "for name in %r:\n"
        "    session = SessionStore()\n"
        "    session[GUEST_NAME_SESSION_KEY] = name\n"
        "    session.create()\n"
        "    print(session.session_key)\n"
    ) % (list(names),)
    return manage(env, "shell", "-c", code).split()


def user_sessions(env, *usernames):
    """Accounts called ``usernames`` (str), created if need be in the
    split's database (``env``), each with an HTTP session signed in as it,
    as ``/accounts/login/`` would make; returns the session keys (list of
    str)."""
    code = (
        "from django.conf import settings\n"
        "from django.contrib import auth\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "for name in %r:\n"
        "    user, _ = auth.get_user_model().objects.get_or_create(username=name)\n"
        "    session = SessionStore()\n"
        "    session[auth.SESSION_KEY] = str(user.pk)\n"
        "    session[auth.BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
        "    session[auth.HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "    session.create()\n"
        "    print(session.session_key)\n"
    ) % (list(usernames),)
    return manage(env, "shell", "-c", code).split()


def unique_label(stem):
    """A room label (str) no other test uses."""
    return "%s-%s" % (stem, uuid.uuid4().hex[:8])


# How long one read of a socket may wait (s) before the caller's deadline is
# checked again. Daphne pings every idle socket (every 20 s by default), and
# websocket-client answers a ping inside the read and goes on reading, so
# one read with the whole timeout would start again at every ping and a
# frame that never comes would hang the caller instead of failing it.
READ_SLICE_S = 1.0


class ChatClient:
    """One member of a room: a real WebSocket to ``/chat/<label>/``.

    ``timeout`` (seconds) bounds the handshake and every receive, Daphne's
    keepalive pings notwithstanding: a message that never comes fails the
    test with ``TimeoutError`` instead of hanging it.
    """

    # The socket's path; %s is the label.
    PATH = "/chat/%s/"

    def __init__(self, split, label, timeout=30, origin=None, session_key=None):
        options = {"cookie": "sessionid=%s" % session_key} if session_key else {}
        self.timeout = timeout
        self.socket = websocket.create_connection(
            split.ws_url(self.PATH % label if "%s" in self.PATH else self.PATH),
            timeout=timeout,
            origin=origin or split.base_url,
            **options,
        )
        self.roster = Roster()

    def send(self, handle, message):
        self.socket.send(json.dumps({"handle": handle, "message": message}))

    def send_frame(self, **fields):
        """Send one frame of ``fields``, e.g. ``type="ping"``."""
        self.socket.send(json.dumps(fields))

    def receive_until(self, done, timeout=60):
        """Receive frames, applying presence frames to ``roster``, until
        ``done(frame)`` is true for one; returns every frame received (list
        of dict). Raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                frame = self.receive(timeout=deadline - time.monotonic())
            except TimeoutError:
                raise TimeoutError("Not done after %d s; received %r" % (timeout, frames)) from None
            self.roster.apply(frame)
            frames.append(frame)
            if done(frame):
                return frames

    def wait_for_roster(self, members, anonymous, timeout=60):
        """Receive until the roster shows ``members`` (set of str) and
        ``anonymous`` (int); returns the frames received."""
        expected = (set(members), anonymous)

        def matches(_frame):
            return (self.roster.members, self.roster.anonymous) == expected

        if matches(None):
            return []
        return self.receive_until(matches, timeout)

    def send_raw(self, text):
        self.socket.send(text)

    def receive(self, timeout=None):
        """The next frame, decoded from JSON (dict). Raises ``TimeoutError``
        when none comes within ``timeout`` seconds (default: the client's
        ``timeout``)."""
        return json.loads(self._within(timeout, self.socket.recv))

    def receive_frame(self, timeout=None):
        """The next text or close frame from the server: ``("text", dict)``,
        its JSON decoded, or ``("close", code)``, the close frame's status
        code (int, or None when it has none). Pings are answered and
        skipped, as are pongs.

        A close frame is returned unanswered: websocket-client's own
        ``recv_data_frame`` replies before it returns the frame, and that
        reply fails when the server has already dropped the connection (a
        client behind on its reading, past the server's close handshake
        timeout), which would lose the code the server did send. Raises
        ``TimeoutError`` when neither comes within ``timeout`` seconds
        (default: the client's ``timeout``), and
        ``websocket.WebSocketException`` or ``OSError`` when the connection
        is gone."""
        while True:
            frame = self._within(timeout, self.socket.recv_frame)
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
                return "close", code
            if frame.opcode == websocket.ABNF.OPCODE_TEXT:
                return "text", json.loads(frame.data)
            if frame.opcode == websocket.ABNF.OPCODE_PING:
                self.socket.pong(frame.data)

    def _within(self, timeout, read):
        """``read()``'s result, reading in slices of ``READ_SLICE_S`` until
        ``timeout`` seconds (default: the client's) have passed; then
        ``TimeoutError``. websocket-client keeps a partly read frame across
        slices. The socket's own timeout is restored afterwards, for sends."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("Nothing received within %.1f s" % timeout)
                self.socket.settimeout(min(remaining, READ_SLICE_S))
                try:
                    return read()
                except websocket.WebSocketTimeoutException:
                    continue
        finally:
            self.socket.settimeout(self.timeout)

    def receive_many(self, count):
        """The next ``count`` frames (list of dict)."""
        return [self.receive() for _ in range(count)]

    def close(self):
        self.socket.close()


class StreamClient(ChatClient):
    """One signed-in user's ``/stream/`` socket (chat/stream.py): the same
    reads as ``ChatClient``, on ``/stream/``; ``label`` is not used."""

    PATH = "/stream/"

    def __init__(self, split, timeout=30, origin=None, session_key=None):
        super().__init__(split, None, timeout=timeout, origin=origin, session_key=session_key)

    def rooms_until(self, done, timeout=60):
        """Receive ``rooms`` payloads (dict) until ``done(payload)`` is true
        for one; returns every payload received (list). Raises
        ``TimeoutError`` after ``timeout`` seconds."""
        frames = self.receive_until(
            lambda frame: frame.get("stream") == "rooms" and done(frame["payload"]), timeout
        )
        return [frame["payload"] for frame in frames if frame.get("stream") == "rooms"]


def stored_messages(database_url, label, columns=("id", "handle", "message")):
    """The rows of room ``label`` in PostgreSQL, oldest first: a list of
    tuples of ``columns`` (names of ``chat_message`` columns)."""
    rows = services.stored_messages(database_url, labels=[label], columns=columns)
    return [row[1:] for row in rows]
