"""Daphne's WebSocket protocol refusing floods and oversized frames itself,
driven directly: a fake channel layer, a recorded output, an injected clock."""

import json

import pytest
from django.test import override_settings

from chat import conf
from chat.exceptions import ClientError
from chat.protocol import parse_frame
from chat.transport.daphne_websocket import BoundedWebSocketProtocol


class FakeLayer:
    """The channel layer, keeping what Daphne sends it."""

    class ChannelFull(Exception):
        pass

    def __init__(self):
        self.sent = []

    def send(self, channel, message):
        self.sent.append((channel, message))


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def make_socket(clock=None):
    """An open socket's protocol whose output is recorded: ``written``
    (frames sent to the client, decoded) and ``closed_with`` (close codes)."""
    socket = BoundedWebSocketProtocol()
    socket.channel_layer = FakeLayer()
    socket.reply_channel = "daphne.response.test!abc"
    socket.path = b"/chat/room/"
    socket.packets_received = 0
    socket.transport = None
    socket.state = socket.STATE_OPEN
    socket.clock = clock or Clock()
    socket.written, socket.closed_with = [], []
    socket.sendMessage = lambda payload, binary=False: socket.written.append(
        json.loads(payload.decode("utf8"))
    )
    socket.sendCloseFrame = lambda code=None, reasonUtf8=None, isReply=False: (
        socket.closed_with.append(code)
    )
    return socket


def send_text(socket, text, count=1):
    for _ in range(count):
        socket.onMessage(text.encode("utf8"), False)


def forwarded(socket):
    return [message for channel, message in socket.channel_layer.sent]


def errors(socket):
    return [frame["error"] for frame in socket.written]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_burst_is_forwarded_untouched_and_in_order():
    socket = make_socket()
    send_text(socket, '{"handle": "ann", "message": "hé"}', count=3)
    assert socket.channel_layer.sent == [
        (
            "websocket.receive",
            {
                "reply_channel": "daphne.response.test!abc",
                "path": "/chat/room/",
                "order": n,
                "text": '{"handle": "ann", "message": "hé"}',
            },
        )
        for n in (1, 2, 3)
    ]
    assert socket.written == []


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_frame_over_the_rate_gets_rate_limited_from_daphne_and_is_not_forwarded():
    socket = make_socket()
    send_text(socket, "x", count=5)
    assert len(forwarded(socket)) == 3
    assert (
        socket.written
        == [{"type": "error", "error": "RATE_LIMITED", "detail": conf.RATE_LIMITED_DETAIL}] * 2
    )
    assert socket.closed_with == []


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_tokens_come_back_at_the_sustained_rate_and_the_order_has_no_gap():
    clock = Clock()
    socket = make_socket(clock)
    send_text(socket, "x", count=4)
    clock.now += 1.0  # one token a second
    send_text(socket, "y", count=2)
    clock.now += 100.0  # never above the burst
    send_text(socket, "z", count=4)
    texts = [(m["order"], m["text"]) for m in forwarded(socket)]
    assert texts == [(1, "x"), (2, "x"), (3, "x"), (4, "y"), (5, "z"), (6, "z"), (7, "z")]
    assert errors(socket) == ["RATE_LIMITED"] * 3


@override_settings(CHAT_RATE_LIMIT_BURST=2, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_clock_stepping_back_does_not_drain_the_bucket():
    clock = Clock()
    socket = make_socket(clock)
    send_text(socket, "x")
    clock.now -= 100.0
    send_text(socket, "y")
    assert len(forwarded(socket)) == 2


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_socket_that_floods_on_after_twice_the_burst_of_refusals_is_closed_with_1008():
    socket = make_socket()
    send_text(socket, "x", count=3 + 6)
    assert errors(socket) == ["RATE_LIMITED"] * 6 and socket.closed_with == []

    send_text(socket, "x")
    assert socket.closed_with == [1008]
    # Nothing more is answered or forwarded, whatever the workers send.
    socket.clock.now += 100.0
    send_text(socket, "x", count=5)
    socket.serverSend('{"message": "late"}')
    assert len(forwarded(socket)) == 3
    assert len(socket.written) == 6 and socket.closed_with == [1008]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_frame_let_through_resets_the_refusals_in_a_row():
    clock = Clock()
    socket = make_socket(clock)
    send_text(socket, "x", count=3 + 5)
    clock.now += 1.0
    send_text(socket, "x", count=1 + 6)
    assert socket.closed_with == []
    assert errors(socket) == ["RATE_LIMITED"] * 11
    assert len(forwarded(socket)) == 4


@override_settings(CHAT_MESSAGE_MAX_LENGTH=10, CHAT_HANDLE_MAX_LENGTH=5)
def test_a_text_frame_over_the_size_limit_gets_the_workers_error_and_is_not_forwarded():
    limit = conf.max_frame_length()
    socket = make_socket()
    send_text(socket, "é" * limit)  # twice as many bytes, but not too many characters
    send_text(socket, "é" * (limit + 1))
    assert [len(m["text"]) for m in forwarded(socket)] == [limit]
    with pytest.raises(ClientError) as refused:
        parse_frame({"text": "é" * (limit + 1)})
    assert socket.written == [refused.value.as_dict()]


@override_settings(CHAT_MESSAGE_MAX_LENGTH=10, CHAT_HANDLE_MAX_LENGTH=5)
def test_a_binary_frame_is_measured_in_bytes():
    limit = conf.max_frame_length()
    socket = make_socket()
    socket.onMessage(b"\x00" * limit, True)
    socket.onMessage(b"\x00" * (limit + 1), True)
    assert [len(m["bytes"]) for m in forwarded(socket)] == [limit]
    assert errors(socket) == ["FRAME_TOO_LARGE"]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=0)
def test_a_zero_rate_turns_the_edge_limit_off():
    socket = make_socket()
    send_text(socket, "x", count=1000)
    assert len(forwarded(socket)) == 1000
    assert socket.written == [] and socket.closed_with == []


def test_the_protocol_and_the_transport_share_one_frame_size():
    from chat import protocol

    assert protocol.max_frame_length() == conf.max_frame_length()
