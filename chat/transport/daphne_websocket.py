"""Bounded output for Daphne's WebSocket connections.

Daphne 1.x writes every message for a socket straight to its Twisted
transport, which buffers whatever the peer has not read yet without limit.
A client that stops reading (a frozen tab, a stalled mobile link) therefore
grows the Daphne process's memory for as long as its room is busy; and
Daphne's keepalive ping never fires for it, because Daphne counts its own
outgoing messages as activity.

``BoundedWebSocketProtocol`` cuts such a socket off instead: when a send
finds more than ``CHAT_SOCKET_BUFFER_MAX_BYTES`` waiting unsent, or more
than ``CHAT_SOCKET_BUFFER_SOFT_BYTES`` waiting for longer than
``CHAT_SOCKET_STALL_SECONDS``, it aborts the connection. Daphne then sends
``websocket.disconnect`` as for any other close, the socket leaves its
Group, and the client reconnects and catches up (docs/protocol.md) when it
reads again. Nothing else in the room waits for it.

It also refuses floods at the edge, before a frame reaches the channel
layer: each socket keeps the workers' token bucket (``conf.spend_token``:
``CHAT_RATE_LIMIT_BURST`` frames at once, ``CHAT_RATE_LIMIT_PER_MINUTE`` a
minute) on this protocol object, and a frame over the limit, or longer than
``conf.max_frame_length()`` (characters of a text frame, bytes of a binary
one), is answered here with the protocol's ``RATE_LIMITED`` or
``FRAME_TOO_LARGE`` error frame and never forwarded. Without this, every
frame of a flood crossed Redis and a worker only to be refused there, and
the shared ``websocket.receive`` channel filled until Daphne force-closed
innocent sockets. A socket that sends another frame over the limit after
2 x ``CHAT_RATE_LIMIT_BURST`` refusals in a row is closed with 1008 (policy
violation) and gets nothing more. The workers keep their own check as the
second line (chat/ratelimit.py).

When the channel layer refuses a frame because ``websocket.receive`` is
full (``ChannelFull``), Daphne 1.4 closed the socket with 1013, whichever
socket had filled the channel. This protocol keeps the frame instead and
slows that one client down: it stops reading the socket
(``pauseProducing``), so TCP pushes back on the client, queues the
socket's later frames behind the refused one, retries the oldest after
``RETRY_FIRST_S`` seconds, doubling up to ``RETRY_MAX_S``, and reads again
(``resumeProducing``) once the queue is empty. Frames reach the layer in
the order they arrived, numbered ``order`` 1, 2, 3, ... without a gap, and
a socket that closes meanwhile sends its ``websocket.disconnect`` only
after them. A socket is therefore closed only for what it did itself.

A handshake whose ``websocket.connect`` meets a full channel is held the
same way (added 2026-11-30): Daphne 1.4 answered it with 503 at once; this
protocol offers the connect again with the same backoff, and refuses with
503 only when Daphne's handshake timeout (``--websocket_connect_timeout``,
5 s by default) would otherwise end the wait.

Before any of that, autobahn itself bounds what it reads (added
2026-12-04): ``BoundedWebSocketFactory`` sets its ``maxMessagePayloadSize``
and ``maxFramePayloadSize`` to ``conf.websocket_payload_max_bytes()`` (the
protocol's longest frame at 4 bytes a character), so a message over that is
answered with a close frame 1009 (message too big) from its frame header,
and the rest of its payload is read and thrown away, never buffered; a
20 MiB frame grew Daphne by 20 MB without it. ``failByDrop`` is off so that
the client gets that close frame rather than a bare TCP reset (and a 1002
or 1007 for a broken frame likewise). Frames under the cap but over
``conf.max_frame_length()`` still get the ``FRAME_TOO_LARGE`` error frame,
and the socket stays open.

It also starts its process's heartbeat at the first connect
(``daphne_heartbeat``), which tells the workers when a Daphne has died.

``install()`` puts the protocol in place; ``asgi.py`` calls it, so it applies
in the process that runs ``daphne asgi:channel_layer``. It changes nothing
in the worker processes.
"""

import collections
import json
import logging
import time

from autobahn.websocket.types import ConnectionDeny
from daphne import http_protocol
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet import defer

from chat import conf
from chat.transport import daphne_heartbeat

logger = logging.getLogger(__name__)


# The close code for a socket that floods on after its refusals (RFC 6455,
# 7.4.1: "policy violation").
POLICY_VIOLATION = 1008
# The chat's close for a socket whose reader has lost its room
# (docs/protocol.md, "Closes"; chat/revocation.py). Once a worker has asked
# for it, nothing more the client sends is forwarded: a client that ignores
# the close cannot go on posting until its close handshake times out.
ACCESS_DENIED = 4003
# The close code a worker may ask for (RFC 6455 §7.4.1's "service restart",
# IANA registry): a socket joined by an older release (chat/consumers.py).
SERVICE_RESTART = 1012

# The first and the longest wait, in seconds, before a frame the channel
# layer refused as full is offered again. A worker takes a frame in a few
# milliseconds, so the first retry usually succeeds; the cap keeps a long
# outage from costing more than two tries a second per paused socket.
RETRY_FIRST_S = 0.01
RETRY_MAX_S = 0.5


def error_frame(code, detail):
    """The text (str) of the protocol's error frame (docs/protocol.md,
    "Errors"): ``{"type": "error", "error": code, "detail": detail}``, both
    str. It is the shape ``chat.exceptions.ClientError.as_dict`` gives the
    workers' refusals, built here from a plain dict because the transport
    does not import the chat."""
    return json.dumps({"type": "error", "error": code, "detail": detail})


def unsent_bytes(transport):
    """Bytes written to a Twisted TCP ``transport`` and not yet handed to the
    kernel (int); 0 for a transport that does not expose its buffer.

    Reads ``twisted.internet.abstract.FileDescriptor``'s ``dataBuffer``,
    ``offset`` and ``_tempDataLen``, which hold exactly that.
    """
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0


class BoundedWebSocketProtocol(WebSocketProtocol):
    """Daphne's WebSocket protocol, cutting off a peer that does not read,
    refusing frames over the rate or size limits before they are forwarded,
    holding a socket's frames and pausing its reads while the layer is
    full, and keeping its process's heartbeat (``daphne_heartbeat``) alive."""

    backed_up_since = None
    # The socket's token bucket (``conf.spend_token``; None until its first
    # frame), its rate refusals since the last frame let through, and
    # whether it has been closed for flooding.
    rate_bucket = None
    refusals_in_a_row = 0
    closed_for_flooding = False
    # Whether a worker has closed the socket with ACCESS_DENIED.
    closed_for_access = False
    # The clock the bucket is kept on, in seconds; tests replace it.
    clock = staticmethod(time.monotonic)
    # Frames refused as full, or queued behind one: ``websocket.receive``
    # messages (dicts) in ``order``, oldest first; None while none wait.
    backlog = None
    # Whether reads are paused for the backlog; the pending retry (a
    # Twisted ``IDelayedCall``) and the wait before the next one (s); the
    # ``onClose`` arguments held back until the backlog is sent.
    paused_for_backlog = False
    retry_call = None
    retry_delay = RETRY_FIRST_S
    held_close = None
    # A handshake whose websocket.connect waits for room: the pending retry
    # (an ``IDelayedCall``) and the wait before the next one (s).
    connect_retry = None
    connect_delay = RETRY_FIRST_S

    def onConnect(self, request):
        # Before the connect is sent on: a worker that files this socket
        # under its Daphne must find that Daphne alive.
        daphne_heartbeat.ensure_started(self.main_factory)
        try:
            return super().onConnect(request)
        except ConnectionDeny as denied:
            # Daphne refuses with 503, muted, only when websocket.connect is
            # full; anything else stands.
            if denied.code != 503 or not self.muted:
                raise
        self.muted = False
        logger.info("Holding the handshake of %s: websocket.connect is full", self.reply_channel)
        self.handshake_deferred = defer.Deferred()
        self.connect_delay = RETRY_FIRST_S
        self.connect_retry = self.call_later(self.connect_delay, self._retry_connect)
        return self.handshake_deferred

    def _retry_connect(self):
        """Offer the held handshake's ``websocket.connect`` again; when the
        layer still refuses it, retry after twice the wait (up to
        ``RETRY_MAX_S``), or refuse the handshake with 503 when the next try
        would come after Daphne's handshake timeout."""
        self.connect_retry = None
        if self.handshake_deferred is None or self.handshake_deferred.called:
            return
        try:
            self.channel_layer.send("websocket.connect", self.request_info)
        except self.channel_layer.ChannelFull:
            self.connect_delay = min(self.connect_delay * 2, RETRY_MAX_S)
            timeout = self.main_factory.websocket_connect_timeout
            if 0 <= timeout < self.duration() + self.connect_delay:
                logger.warning(
                    "Refusing the handshake of %s: websocket.connect stayed full for %.1f s",
                    self.reply_channel,
                    self.duration(),
                )
                self.muted = True
                self.handshake_deferred.errback(
                    ConnectionDeny(code=503, reason="Connection queue at capacity")
                )
                self.cleanup()
                return
            self.connect_retry = self.call_later(self.connect_delay, self._retry_connect)
            return
        logger.debug("Sent the held handshake of %s on", self.reply_channel)
        self.factory.log_action(
            "websocket",
            "connecting",
            {
                "path": self.request.path,
                "client": "%s:%s" % tuple(self.client_addr) if self.client_addr else None,
            },
        )

    def onMessage(self, payload, isBinary):
        # Refused frames return before Daphne counts them, so the ``order``
        # of the forwarded ones has no gap for the workers to wait on.
        # A socket Daphne muted, or this closed, is answered no more; one
        # closed for access forwards nothing more.
        if self.muted or self.closed_for_flooding or self.closed_for_access:
            return
        allowed, self.rate_bucket = conf.spend_token(self.rate_bucket, self.clock())
        if not allowed:
            self._refuse_flood()
            return
        self.refusals_in_a_row = 0
        if frame_too_large(payload, isBinary):
            self.serverSend(error_frame("FRAME_TOO_LARGE", conf.FRAME_TOO_LARGE_DETAIL))
            return
        # Daphne's own message, numbered as Daphne numbers it.
        self.packets_received += 1
        self.last_data = time.time()
        message = {
            "reply_channel": self.reply_channel,
            "path": self.unquote(self.path),
            "order": self.packets_received,
        }
        if isBinary:
            message["bytes"] = payload
        else:
            message["text"] = payload.decode("utf8")
        if self.backlog:
            # Behind the frames already waiting, so that none overtakes.
            self.backlog.append(message)
            return
        self.backlog = collections.deque([message])
        self._forward_backlog()

    def _forward_backlog(self):
        """Send the backlog's frames to ``websocket.receive``, oldest first,
        until it is empty or the layer refuses one as full; then schedule a
        retry, pausing the socket's reads at the first refusal."""
        self.retry_call = None
        while self.backlog:
            try:
                self.channel_layer.send("websocket.receive", self.backlog[0])
            except self.channel_layer.ChannelFull:
                self._wait_for_room()
                return
            self.backlog.popleft()
        self.backlog = None
        if self.paused_for_backlog:
            self.paused_for_backlog = False
            self.retry_delay = RETRY_FIRST_S
            logger.debug("Reading %s again: its frames were all forwarded", self.reply_channel)
            if self.transport is not None and self.held_close is None:
                self.transport.resumeProducing()
        if self.held_close is not None:
            self._send_held_close()

    def _wait_for_room(self):
        if not self.paused_for_backlog:
            self.paused_for_backlog = True
            self.retry_delay = RETRY_FIRST_S
            # One line a pause: a busy layer must not also flood the log.
            logger.info(
                "Pausing reads from %s: websocket.receive is full; its frames wait in order",
                self.reply_channel,
            )
            if self.transport is not None:
                self.transport.pauseProducing()
        else:
            self.retry_delay = min(self.retry_delay * 2, RETRY_MAX_S)
        self.retry_call = self.call_later(self.retry_delay, self._forward_backlog)

    def call_later(self, delay, callback):
        """Run ``callback()`` after ``delay`` seconds on the reactor; returns
        its ``IDelayedCall``. Tests replace it to run time themselves."""
        from twisted.internet import reactor

        return reactor.callLater(delay, callback)

    def onClose(self, wasClean, code, reason):
        if self.connect_retry is not None:
            # Gone before its connect was sent: nothing to tell the workers.
            self.connect_retry.cancel()
            self.connect_retry = None
        if self.backlog:
            # The workers must get the socket's last frames before its
            # disconnect, which ends its channel session. Nothing is sent
            # to a closed socket meanwhile.
            self.cleanup()
            self.held_close = (wasClean, code, reason)
            return
        super().onClose(wasClean, code, reason)

    def _send_held_close(self):
        wasClean, code, reason = self.held_close
        self.held_close = None
        super().onClose(wasClean, code, reason)

    def _refuse_flood(self):
        if self.refusals_in_a_row >= 2 * conf.get("CHAT_RATE_LIMIT_BURST"):
            logger.warning(
                "Closing %s: it went on sending after %d refusals",
                self.reply_channel,
                self.refusals_in_a_row,
            )
            self.closed_for_flooding = True
            # ``sendClose`` only takes 1000 and 3000-4999; Daphne closes
            # with 1013 the same way.
            self.sendCloseFrame(code=POLICY_VIOLATION, isReply=False)
            # And nothing more is read: the rest of the flood stays in the
            # kernel's buffers, unparsed, instead of costing the reactor
            # every other socket shares. The close handshake's timeout
            # then drops the connection, the close frame long delivered.
            if self.transport is not None:
                self.transport.pauseProducing()
            return
        self.refusals_in_a_row += 1
        self.serverSend(error_frame("RATE_LIMITED", conf.RATE_LIMITED_DETAIL))

    def serverClose(self, code=True):
        """A worker's ``{"close": code}``: as Daphne's, and 1012 too, which
        Daphne's ``sendClose`` refuses from an application (it takes 1000
        and 3000-4999 only; it logged "invalid close code" and left the
        socket open). Since 2026-12-04."""
        if code == SERVICE_RESTART:
            self.sendCloseFrame(code=code, isReply=False)
            return
        if code == ACCESS_DENIED:
            self.closed_for_access = True
        super().serverClose(code)

    def serverSend(self, content, binary=False):
        if self.closed_for_flooding:
            return
        if self.transport is not None and self._over_limit(unsent_bytes(self.transport)):
            logger.warning(
                "Cutting off %s: its client has not read %d bytes",
                self.reply_channel,
                unsent_bytes(self.transport),
            )
            self.dropConnection(abort=True)
            return
        super().serverSend(content, binary)

    def _over_limit(self, unsent):
        if unsent > conf.get("CHAT_SOCKET_BUFFER_MAX_BYTES"):
            return True
        if unsent <= conf.get("CHAT_SOCKET_BUFFER_SOFT_BYTES"):
            self.backed_up_since = None
            return False
        now = time.monotonic()
        if self.backed_up_since is None:
            self.backed_up_since = now
        return now - self.backed_up_since > conf.get("CHAT_SOCKET_STALL_SECONDS")


def frame_too_large(payload, binary):
    """True when a frame's ``payload`` (bytes, as received) is longer than
    ``conf.max_frame_length()``: in bytes for a binary frame (``binary``
    True), in characters for a text frame, whose payload is UTF-8."""
    limit = conf.max_frame_length()
    if len(payload) <= limit:
        # A character takes at least one byte: no need to decode.
        return False
    return binary or len(payload.decode("utf8")) > limit


def payload_limits():
    """The autobahn protocol options (dict, for ``setProtocolOptions``) that
    bound a received WebSocket message and frame to
    ``conf.websocket_payload_max_bytes()`` bytes, answered with a 1009 close
    frame (``failByDrop`` off) rather than buffered."""
    most = conf.websocket_payload_max_bytes()
    return {"maxMessagePayloadSize": most, "maxFramePayloadSize": most, "failByDrop": False}


class BoundedWebSocketFactory(WebSocketFactory):
    """Daphne's WebSocket factory with ``payload_limits()`` set on every
    protocol it builds (autobahn copies a factory's options to each)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(**payload_limits())


class HeldHandshakeFilter(logging.Filter):
    """Drops Daphne's "WebSocket force closed … due to connect
    backpressure" warning, which ``BoundedWebSocketProtocol`` makes untrue:
    the handshake is held, and logged as such, not closed."""

    def filter(self, record):
        return "due to connect backpressure" not in record.getMessage()


def install():
    """Make Daphne build ``BoundedWebSocketProtocol`` for every WebSocket,
    from a ``BoundedWebSocketFactory``.

    Must run before Daphne creates its server, as importing ``asgi.py`` does.
    """
    http_protocol.WebSocketProtocol = BoundedWebSocketProtocol
    http_protocol.WebSocketFactory = BoundedWebSocketFactory
    daphne_logger = logging.getLogger("daphne.ws_protocol")
    if not any(isinstance(f, HeldHandshakeFilter) for f in daphne_logger.filters):
        daphne_logger.addFilter(HeldHandshakeFilter())
