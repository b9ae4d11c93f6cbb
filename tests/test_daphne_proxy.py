"""chat/transport/daphne_proxy.py: the client's address is the
X-Forwarded-For entry the router appended, never the client's own."""

import pytest
from daphne import http_protocol, ws_protocol
from twisted.web.http_headers import Headers

from chat.transport import daphne_proxy
from chat.transport.daphne_proxy import forwarded_entries, parse_forwarded_for, trusted_client

ROUTER = ["10.1.2.3", 34567]


def parse(headers, **kwargs):
    return parse_forwarded_for(headers, original_addr=ROUTER, original_scheme="http", **kwargs)


def test_the_entry_the_router_appended_is_the_client_not_the_one_the_client_wrote():
    headers = Headers({b"X-Forwarded-For": [b"6.6.6.6, 203.0.113.5"]})
    assert parse(headers)[0] == ["203.0.113.5", 0]


def test_a_single_entry_is_the_client():
    headers = Headers({b"X-Forwarded-For": [b"203.0.113.5"], b"X-Forwarded-Port": [b"443"]})
    assert parse(headers) == (["203.0.113.5", 443], "http")


def test_every_header_line_counts_in_order():
    # A router that adds a line of its own rather than appending to the
    # client's must still be the one that is read.
    headers = Headers({b"X-Forwarded-For": [b"6.6.6.6", b"203.0.113.5"]})
    assert parse(headers)[0] == ["203.0.113.5", 0]


def test_without_the_header_the_connection_is_the_client():
    assert parse(Headers({})) == (ROUTER, "http")


def test_an_entry_that_is_not_an_address_leaves_the_connection_as_the_client():
    for value in (b"", b"unknown", b"203.0.113.5, ", b"203.0.113.5, evil"):
        headers = Headers({b"X-Forwarded-For": [value]})
        assert parse(headers)[0] == ROUTER, value


def test_the_proto_header_is_read_as_daphne_reads_it():
    headers = Headers({b"X-Forwarded-For": [b"203.0.113.5"], b"X-Forwarded-Proto": [b"https"]})
    assert parse(headers)[1] == "https"


def test_a_websockets_headers_as_autobahn_keeps_them_are_read_the_same_way():
    headers = {"x-forwarded-for": "6.6.6.6, 2001:db8::1", "host": "chat.example"}
    assert parse(headers)[0] == ["2001:db8::1", 0]


def test_with_two_trusted_hops_the_second_from_the_right_is_the_client(settings):
    settings.CHAT_PROXY_TRUSTED_HOPS = 2
    headers = Headers({b"X-Forwarded-For": [b"6.6.6.6, 203.0.113.5, 10.0.0.9"]})
    assert parse(headers)[0] == ["203.0.113.5", 0]
    short = Headers({b"X-Forwarded-For": [b"203.0.113.5"]})
    assert parse(short)[0] == ROUTER


@pytest.mark.parametrize(
    "entries, hops, client",
    [
        (["1.1.1.1", "2.2.2.2"], 1, "2.2.2.2"),
        (["1.1.1.1", "2.2.2.2"], 2, "1.1.1.1"),
        (["1.1.1.1"], 2, None),
        ([], 1, None),
        (["1.1.1.1"], 0, None),
        (["::ffff:1.1.1.1"], 1, "::ffff:101:101"),
    ],
)
def test_trusted_client_counts_hops_from_the_right(entries, hops, client):
    assert trusted_client(entries, hops) == client


def test_forwarded_entries_split_and_strip_every_line():
    headers = Headers({b"x-forwarded-for": [b" 1.1.1.1 ,2.2.2.2", b"3.3.3.3"]})
    assert forwarded_entries(headers, "X-Forwarded-For") == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_install_puts_it_in_daphnes_http_and_websocket_protocols(monkeypatch):
    monkeypatch.setattr(http_protocol, "parse_x_forwarded_for", None)
    monkeypatch.setattr(ws_protocol, "parse_x_forwarded_for", None)
    daphne_proxy.install()
    assert http_protocol.parse_x_forwarded_for is parse_forwarded_for
    assert ws_protocol.parse_x_forwarded_for is parse_forwarded_for
