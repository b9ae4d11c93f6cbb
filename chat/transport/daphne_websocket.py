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

It also starts its process's heartbeat at the first connect
(``daphne_heartbeat``), which tells the workers when a Daphne has died.

``install()`` puts the protocol in place; ``asgi.py`` calls it, so it applies
in the process that runs ``daphne asgi:channel_layer``. It changes nothing
in the worker processes.
"""

import json
import logging
import time

from daphne import http_protocol
from daphne.ws_protocol import WebSocketProtocol

from chat import conf
from chat.transport import daphne_heartbeat

logger = logging.getLogger(__name__)


# The close code for a socket that floods on after its refusals (RFC 6455,
# 7.4.1: "policy violation").
POLICY_VIOLATION = 1008


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
    and keeping its process's heartbeat (``daphne_heartbeat``) alive."""

    backed_up_since = None
    # The socket's token bucket (``conf.spend_token``; None until its first
    # frame), its rate refusals since the last frame let through, and
    # whether it has been closed for flooding.
    rate_bucket = None
    refusals_in_a_row = 0
    closed_for_flooding = False
    # The clock the bucket is kept on, in seconds; tests replace it.
    clock = staticmethod(time.monotonic)

    def onConnect(self, request):
        # Before the connect is sent on: a worker that files this socket
        # under its Daphne must find that Daphne alive.
        daphne_heartbeat.ensure_started(self.main_factory)
        return super().onConnect(request)

    def onMessage(self, payload, isBinary):
        # Refused frames return before Daphne counts them, so the ``order``
        # of the forwarded ones has no gap for the workers to wait on.
        # A socket Daphne muted, or this closed, is answered no more.
        if self.muted or self.closed_for_flooding:
            return
        allowed, self.rate_bucket = conf.spend_token(self.rate_bucket, self.clock())
        if not allowed:
            self._refuse_flood()
            return
        self.refusals_in_a_row = 0
        if frame_too_large(payload, isBinary):
            self.serverSend(error_frame("FRAME_TOO_LARGE", conf.FRAME_TOO_LARGE_DETAIL))
            return
        super().onMessage(payload, isBinary)

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
            return
        self.refusals_in_a_row += 1
        self.serverSend(error_frame("RATE_LIMITED", conf.RATE_LIMITED_DETAIL))

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


def install():
    """Make Daphne build ``BoundedWebSocketProtocol`` for every WebSocket.

    Must run before Daphne creates its server, as importing ``asgi.py`` does.
    """
    http_protocol.WebSocketProtocol = BoundedWebSocketProtocol
