"""Request bodies refused by Daphne before they are held whole.

Daphne 1.4 reads a request's whole body (into memory, or a temporary file
past 100 kB) and then puts it, in one ``http.request`` message, into Redis,
whatever its size; only then does a worker look at it. A 30 MiB POST with
no cookie grew Daphne by 60 MB and Redis by 64 MB before its 403, so a few
such requests filled a small hosted Redis.

``BodyLimitRequest`` bounds every body by its path (``conf.http_body_max_bytes``):
``CHAT_UPLOAD_MAX_BYTES`` plus ``conf.UPLOAD_FORM_OVERHEAD_BYTES`` on the
upload endpoint, ``CHAT_HTTP_BODY_MAX_BYTES`` (64 KiB) everywhere else.

- A ``Content-Length`` over the limit is answered with 413 as soon as the
  headers are in, before one byte of the body is read (and without the
  ``100 Continue`` a client that asked for one waits for, so such a client
  never sends the body at all).
- A chunked body is counted as it arrives and answered with 413 the moment
  it passes the limit.

The 413 carries the protocol's error payload (``{"type": "error", "error",
"detail"}``): ``FILE_TOO_LARGE`` on the upload endpoint, as the upload view
answers a file over ``CHAT_UPLOAD_MAX_BYTES``, and ``BODY_TOO_LARGE``
elsewhere; ``Connection: close``. Nothing reaches the channel layer. Daphne
then stops sending (a TCP half-close, so the client reads the answer and
its end) and throws away whatever of the body still arrives for up to
``LINGER_SECONDS``, as nginx's lingering close does: closing at once, with
body bytes unread, would make the kernel reset the connection, and a
client still sending could lose the 413 with it. Then the connection is
closed.

The path is not known to a twisted.web request until its body is in, so
the limit reads it from the request line that ``HTTPChannel`` keeps
(``_path``), percent-decoded as Daphne hands it to Django.

``install()`` puts the request class in place; ``asgi.py`` calls it after
``daphne_health.install()``: ``BodyLimitRequest`` is ``HealthRequest``'s
subclass, so ``/healthz`` is still answered by Daphne.
"""

import json
import logging

from daphne import http_protocol

from chat import conf
from chat.transport.daphne_health import HealthRequest

logger = logging.getLogger(__name__)

# How long, in seconds, a refused request's connection keeps reading (and
# throwing away) the rest of its body after the 413, before it is closed.
# nginx's lingering_timeout is the same 5 s.
LINGER_SECONDS = 5.0

# The status line of the refusal: 413 is "Content Too Large" in RFC 9110,
# section 15.5.14.
STATUS_LINE = b"HTTP/1.1 413 Content Too Large"


def refusal(path, limit):
    """The payload (dict) of the 413 for a body over ``limit`` (int, bytes)
    on ``path`` (str): the protocol's error shape, ``FILE_TOO_LARGE`` on the
    upload endpoint with the upload view's own sentence, else
    ``BODY_TOO_LARGE``."""
    if conf.UPLOAD_PATH_RE.match(path):
        most = conf.get("CHAT_UPLOAD_MAX_BYTES")
        return {
            "type": "error",
            "error": "FILE_TOO_LARGE",
            "detail": "That file is too large; the most is %g MiB." % round(most / 1048576, 1),
        }
    return {
        "type": "error",
        "error": "BODY_TOO_LARGE",
        "detail": "The request is too large; the most is %d bytes." % limit,
    }


def refusal_bytes(payload):
    """The whole HTTP/1.1 response (bytes) carrying ``payload`` (a dict) as
    JSON with status 413, closing the connection."""
    content = json.dumps(payload).encode("utf8")
    head = [
        STATUS_LINE,
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(content),
        b"Connection: close",
        b"Cache-Control: no-store",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + content


def request_path(target):
    """The path (str) Daphne gives Django for the request-target ``target``
    (bytes, from the request line): the part before ``?``, percent-decoded;
    "" for one that is not ASCII (Daphne answers those with 400 anyway)."""
    try:
        return http_protocol.WebRequest.unquote(target.split(b"?", 1)[0])
    except UnicodeDecodeError:
        return ""


def _discard(data):
    return None


class BodyLimitRequest(HealthRequest):
    """Daphne's HTTP request (with ``/healthz``), refusing a body over its
    path's limit with 413 before holding it (the module's docstring)."""

    # The path's limit (int, bytes; set when the headers are in), the body
    # bytes received so far (int), and whether the request was refused.
    body_limit = None
    body_received = 0
    refused = False
    linger_call = None
    # What schedules the closing after the linger (an ``IReactorTime``);
    # the reactor when None. Tests give a ``twisted.internet.task.Clock``.
    clock = None

    def gotLength(self, length):
        # Twisted calls this once the headers are in, with the
        # Content-Length (int), or None for a chunked body.
        self.body_path = request_path(getattr(self.channel, "_path", b"") or b"")
        self.body_limit = conf.http_body_max_bytes(self.body_path)
        if length is not None and length > self.body_limit:
            super().gotLength(0)
            self._refuse(length)
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.body_received += len(data)
        if self.body_received > self.body_limit:
            self._refuse(None)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        # The end of a chunked body that was refused on the way.
        if self.refused:
            return None
        return super().requestReceived(command, path, version)

    def _refuse(self, length):
        """Answer 413, read nothing more into the request, and close the
        connection after ``LINGER_SECONDS``. ``length`` is the announced
        Content-Length (int), or None when a chunked body passed the limit."""
        self.refused = True
        logger.info(
            "Refused a request body over %d bytes for %s (%s)",
            self.body_limit,
            self.body_path,
            "Content-Length: %d" % length if length is not None else "chunked",
        )
        # No worker will answer this request: no http.disconnect either.
        self.factory.reply_protocols.pop(self.reply_channel, None)
        self.reply_channel = None
        # Twisted sends "100 Continue" after this returns, if asked to.
        self.requestHeaders.removeHeader(b"Expect")
        channel = self.channel
        channel.dataReceived = _discard
        channel.rawDataReceived = _discard
        transport = channel.transport
        transport.write(refusal_bytes(refusal(self.body_path, self.body_limit)))
        half_close = getattr(transport, "loseWriteConnection", None)
        if half_close is None:
            transport.loseConnection()
            return
        half_close()
        clock = self.clock
        if clock is None:
            from twisted.internet import reactor as clock
        self.linger_call = clock.callLater(LINGER_SECONDS, transport.loseConnection)

    def connectionLost(self, reason):
        if self.linger_call is not None and self.linger_call.active():
            self.linger_call.cancel()
        self.linger_call = None
        super().connectionLost(reason)


def install():
    """Make Daphne build ``BodyLimitRequest`` for every HTTP request.

    Daphne looks the class up at each connection; ``asgi.py`` calls this on
    import, after ``daphne_health.install()``."""
    http_protocol.WebRequest = BodyLimitRequest
