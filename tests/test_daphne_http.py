"""Daphne's HTTP request refusing bodies over their path's limit, driven
directly: a real twisted.web ``HTTPChannel`` from Daphne's factory, fed
bytes, a fake channel layer and a recorded transport."""

import json

import pytest
from daphne import http_protocol
from django.test import override_settings
from django.urls import reverse
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chat import conf
from chat.transport import daphne_http
from chat.transport.daphne_http import LINGER_SECONDS, BodyLimitRequest
from tests.fakes import FakeLayer

UPLOAD = 10 * 1024 * 1024 + conf.UPLOAD_FORM_OVERHEAD_BYTES


class HalfClosingTransport(StringTransport):
    """A recorded TCP transport that can also close its writing side."""

    write_closed = False

    def loseWriteConnection(self):
        self.write_closed = True


class Connection:
    """One client connection to Daphne's HTTP factory, with the chat's
    request class: ``send`` bytes in, read ``output`` and ``layer.sent``."""

    def __init__(self):
        self.layer = FakeLayer()
        factory = http_protocol.HTTPFactory(self.layer, send_channel="daphne.response.test!")
        self.factory = factory
        self.protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        self.protocol.requestFactory = BodyLimitRequest
        self.clock = Clock()
        BodyLimitRequest.clock = self.clock
        # The channel's idle timeout (TimeoutMixin) on the test's clock too:
        # on the global reactor it would outlive the test and leave the
        # reactor dirty for the Twisted tests that run after it.
        self.protocol.callLater = self.clock.callLater
        self.transport = HalfClosingTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, data):
        self.protocol.dataReceived(data)

    @property
    def output(self):
        return self.transport.value()

    def answer(self):
        """The status (int) and JSON body (dict) written back."""
        head, _, body = self.output.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(body)

    def requests(self):
        return [message for channel, message in self.layer.sent if channel == "http.request"]


@pytest.fixture(autouse=True)
def real_clock_afterwards():
    yield
    BodyLimitRequest.clock = None


def head(path, *headers):
    lines = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def test_the_upload_endpoint_that_django_routes_gets_the_upload_limit():
    path = reverse("chat:upload", kwargs={"label": "some_room-1"})
    assert conf.http_body_max_bytes(path) == UPLOAD


@pytest.mark.parametrize(
    "path",
    [
        reverse("chat:room", kwargs={"label": "lobby"}),
        reverse("chat:guest_name", kwargs={"label": "lobby"}),
        reverse("api:messages", kwargs={"label": "lobby"}),
        reverse("login"),
        reverse("signup"),
        "/lobby/upload/x/",
        "/a/b/upload/",
    ],
)
def test_every_other_path_gets_the_small_limit(path):
    assert conf.http_body_max_bytes(path) == 65536


@override_settings(CHAT_HTTP_BODY_MAX_BYTES=1000, CHAT_UPLOAD_MAX_BYTES=5000)
def test_the_limits_follow_the_settings():
    assert conf.http_body_max_bytes("/lobby/") == 1000
    assert conf.http_body_max_bytes("/lobby/upload/") == 5000 + conf.UPLOAD_FORM_OVERHEAD_BYTES


def test_a_content_length_over_the_limit_is_refused_before_any_body_and_nothing_is_forwarded():
    connection = Connection()
    connection.send(head("/accounts/login/", "Content-Length: 65537"))
    status, body = connection.answer()
    assert status == 413
    assert body["error"] == "BODY_TOO_LARGE"
    assert b"Connection: close" in connection.output
    assert connection.transport.write_closed
    # The body arrives afterwards, and is thrown away.
    connection.send(b"x" * 65537)
    assert connection.requests() == []
    assert connection.factory.reply_protocols == {}


def test_an_upload_over_its_limit_gets_the_upload_views_code():
    connection = Connection()
    connection.send(head("/lobby/upload/", "Content-Length: %d" % (30 * 1024 * 1024)))
    status, body = connection.answer()
    assert (status, body["error"]) == (413, "FILE_TOO_LARGE")
    assert body["detail"] == "That file is too large; the most is 10 MiB."


def test_a_percent_encoded_upload_path_is_the_upload_path():
    connection = Connection()
    connection.send(head("/lobb%79/upload/?x=1", "Content-Length: %d" % (UPLOAD + 1)))
    assert connection.answer()[1]["error"] == "FILE_TOO_LARGE"


def test_a_client_that_expects_100_continue_is_refused_without_it():
    connection = Connection()
    connection.send(head("/lobby/", "Content-Length: 100000", "Expect: 100-continue"))
    assert connection.output.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in connection.output


def test_the_refused_connection_is_closed_after_the_linger():
    connection = Connection()
    connection.send(head("/lobby/", "Content-Length: 100000"))
    assert not connection.transport.disconnecting
    connection.clock.advance(LINGER_SECONDS)
    assert connection.transport.disconnecting


def test_a_body_at_the_limit_is_forwarded_whole():
    connection = Connection()
    connection.send(head("/accounts/login/", "Content-Length: 65536") + b"y" * 65536)
    (request,) = connection.requests()
    assert request["body"] == b"y" * 65536
    assert connection.output == b""


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_a_chunked_body_is_cut_off_when_it_passes_the_limit():
    connection = Connection()
    connection.send(head("/accounts/login/", "Transfer-Encoding: chunked"))
    for _ in range(16):
        connection.send(chunk(b"z" * 4096))
    assert connection.output == b""
    connection.send(chunk(b"z"))
    status, body = connection.answer()
    assert (status, body["error"]) == (413, "BODY_TOO_LARGE")
    # The rest, its end included, is thrown away.
    connection.send(chunk(b"z" * 4096) + b"0\r\n\r\n")
    assert connection.requests() == []


def test_a_chunked_body_within_the_limit_is_forwarded_whole():
    connection = Connection()
    connection.send(head("/accounts/login/", "Transfer-Encoding: chunked"))
    connection.send(chunk(b"a" * 40000) + chunk(b"b" * 25536) + b"0\r\n\r\n")
    (request,) = connection.requests()
    assert request["body"] == b"a" * 40000 + b"b" * 25536


def test_install_makes_daphne_build_the_limiting_request(monkeypatch):
    monkeypatch.setattr(http_protocol, "WebRequest", http_protocol.WebRequest)
    daphne_http.install()
    assert http_protocol.WebRequest is BodyLimitRequest
