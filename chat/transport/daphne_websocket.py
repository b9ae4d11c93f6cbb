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

It also starts its process's heartbeat at the first connect
(``daphne_heartbeat``), which tells the workers when a Daphne has died.

``install()`` puts the protocol in place; ``asgi.py`` calls it, so it applies
in the process that runs ``daphne asgi:channel_layer``. It changes nothing
in the worker processes.
"""

import logging
import time

from daphne import http_protocol
from daphne.ws_protocol import WebSocketProtocol

from chat import conf
from chat.transport import daphne_heartbeat

logger = logging.getLogger(__name__)


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
    and keeping its process's heartbeat (``daphne_heartbeat``) alive."""

    backed_up_since = None

    def onConnect(self, request):
        # Before the connect is sent on: a worker that files this socket
        # under its Daphne must find that Daphne alive.
        daphne_heartbeat.ensure_started(self.main_factory)
        return super().onConnect(request)

    def serverSend(self, content, binary=False):
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


def install():
    """Make Daphne build ``BoundedWebSocketProtocol`` for every WebSocket.

    Must run before Daphne creates its server, as importing ``asgi.py`` does.
    """
    http_protocol.WebSocketProtocol = BoundedWebSocketProtocol
