"""Daphne's WebSocket protocol refusing floods and oversized frames itself,
driven directly: a fake channel layer, a recorded output, an injected clock."""

import json

import pytest
from daphne import http_protocol
from django.test import override_settings

from chat import conf
from chat.exceptions import ClientError
from chat.protocol import parse_frame
from chat.transport.daphne_websocket import (
    BoundedWebSocketFactory,
    BoundedWebSocketProtocol,
    install,
    payload_limits,
)
from tests.fakes import FakeLayer


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

    socket.transport = Transport()
    send_text(socket, "x")
    # The close frame, and no more reading: the rest of the flood is left
    # unread.
    assert socket.closed_with == [1008] and socket.transport.events == ["pause"]
    # Nothing more is answered or forwarded, whatever the workers send.
    socket.clock.now += 100.0
    send_text(socket, "x", count=5)
    socket.serverSend('{"message": "late"}')
    assert len(forwarded(socket)) == 3
    assert len(socket.written) == 6 and socket.closed_with == [1008]


def test_a_worker_can_close_a_socket_with_1012_and_with_the_codes_daphne_took():
    socket = make_socket()
    socket.serverClose(1012)
    assert socket.closed_with == [1012]

    socket = make_socket()
    sent = []
    socket.sendClose = lambda code=None, reason=None: sent.append(code)
    socket.serverClose(4003)
    socket.serverClose(True)
    assert sent == [4003, 1000] and socket.closed_with == []


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


@override_settings(CHAT_MESSAGE_MAX_LENGTH=10, CHAT_HANDLE_MAX_LENGTH=5)
def test_the_longest_frame_the_edge_lets_through_is_not_too_large_for_the_worker():
    # Daphne and the worker each measure a frame: at the boundary they agree.
    frame = json.dumps({"handle": "ann", "message": "hi"})
    longest = frame + " " * (conf.max_frame_length() - len(frame))  # JSON allows the spaces
    socket = make_socket()
    send_text(socket, longest)
    (message,) = forwarded(socket)
    assert message["text"] == longest
    parsed = parse_frame(message)
    assert (parsed.type, parsed.handle, parsed.message) == ("message", "ann", "hi")


class FullLayer(FakeLayer):
    """The channel layer, refusing every send as full while ``full`` is true."""

    def __init__(self):
        super().__init__()
        self.full = False
        self.refused = 0

    def send(self, channel, message):
        if self.full:
            self.refused += 1
            raise self.ChannelFull(channel)
        super().send(channel, message)


class Scheduler:
    """``call_later`` run by hand: ``delays`` records every wait asked for
    (s), and ``run_due`` runs the calls pending."""

    def __init__(self):
        self.pending, self.delays = [], []

    def __call__(self, delay, callback):
        self.delays.append(delay)
        self.pending.append(callback)

    def run_due(self):
        due, self.pending = self.pending, []
        for callback in due:
            callback()


class Transport:
    """The socket's TCP transport, recording pauses and resumes of its reads."""

    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")


def make_backpressured_socket():
    socket = make_socket()
    socket.channel_layer = FullLayer()
    socket.transport = Transport()
    socket.call_later = Scheduler()
    return socket


@override_settings(CHAT_RATE_LIMIT_BURST=10, CHAT_RATE_LIMIT_PER_MINUTE=600)
def test_a_full_layer_pauses_the_socket_and_its_frames_arrive_later_in_order(caplog):
    socket = make_backpressured_socket()
    layer, scheduler = socket.channel_layer, socket.call_later
    send_text(socket, "a")
    layer.full = True
    with caplog.at_level("INFO", logger="chat.transport.daphne_websocket"):
        send_text(socket, "b")
        send_text(socket, "c", count=2)  # already read when the reads stopped
        for _ in range(8):
            scheduler.run_due()
    assert [m["text"] for m in forwarded(socket)] == ["a"]
    assert socket.transport.events == ["pause"]
    assert len(caplog.records) == 1 and "Pausing reads" in caplog.records[0].getMessage()

    layer.full = False
    scheduler.run_due()
    assert [(m["order"], m["text"]) for m in forwarded(socket)] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "c"),
    ]
    assert socket.transport.events == ["pause", "resume"]
    assert scheduler.pending == []
    assert socket.written == [] and socket.closed_with == []

    send_text(socket, "d")
    assert forwarded(socket)[-1] == {
        "reply_channel": "daphne.response.test!abc",
        "path": "/chat/room/",
        "order": 5,
        "text": "d",
    }


def test_retries_back_off_from_ten_milliseconds_doubling_to_half_a_second():
    socket = make_backpressured_socket()
    socket.channel_layer.full = True
    send_text(socket, "x")
    for _ in range(8):
        socket.call_later.run_due()
    assert socket.call_later.delays == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.5]


def test_a_second_pause_starts_its_backoff_and_its_log_line_afresh(caplog):
    socket = make_backpressured_socket()
    layer, scheduler = socket.channel_layer, socket.call_later
    with caplog.at_level("INFO", logger="chat.transport.daphne_websocket"):
        for text in ("x", "y"):
            layer.full = True
            send_text(socket, text)
            scheduler.run_due()
            layer.full = False
            scheduler.run_due()
    assert scheduler.delays == [0.01, 0.02, 0.01, 0.02]
    assert socket.transport.events == ["pause", "resume"] * 2
    assert len(caplog.records) == 2
    assert [m["order"] for m in forwarded(socket)] == [1, 2]


def test_a_binary_frame_waits_with_its_bytes():
    socket = make_backpressured_socket()
    socket.channel_layer.full = True
    socket.onMessage(b"\x00\x01", True)
    socket.channel_layer.full = False
    socket.call_later.run_due()
    assert forwarded(socket) == [
        {
            "reply_channel": "daphne.response.test!abc",
            "path": "/chat/room/",
            "order": 1,
            "bytes": b"\x00\x01",
        }
    ]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_frames_read_during_a_pause_still_meet_the_rate_limit_first():
    socket = make_backpressured_socket()
    socket.channel_layer.full = True
    send_text(socket, "x", count=5)
    socket.channel_layer.full = False
    socket.call_later.run_due()
    assert [m["order"] for m in forwarded(socket)] == [1, 2, 3]
    assert errors(socket) == ["RATE_LIMITED"] * 2


def test_a_socket_closing_with_frames_waiting_sends_its_disconnect_after_them():
    socket = make_backpressured_socket()
    socket.factory = socket.main_factory = FakeFactory(socket)
    socket.request, socket.client_addr = FakeRequest(), None
    socket.channel_layer.full = True
    send_text(socket, "last words")
    socket.onClose(True, 1000, None)
    assert socket.channel_layer.sent == []
    assert socket.reply_channel not in socket.factory.reply_protocols

    socket.channel_layer.full = False
    socket.call_later.run_due()
    channels = [channel for channel, _ in socket.channel_layer.sent]
    assert channels == ["websocket.receive", "websocket.disconnect"]
    assert [m["order"] for _, m in socket.channel_layer.sent] == [1, 2]
    # Its reads are not resumed: the connection is gone.
    assert socket.transport.events == ["pause"]


class FakeFactory:
    """Daphne's factory, as far as a closing socket uses it."""

    def __init__(self, socket):
        self.reply_protocols = {socket.reply_channel: socket}
        self.actions = []

    def log_action(self, *args, **kwargs):
        self.actions.append(args)


class FakeRequest:
    path = "/chat/room/"


class Stub:
    """An object with the given attributes."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)


def make_handshaking_socket(connect_timeout=5):
    """A socket in its handshake, before Daphne's ``onConnect``, with a
    ``FullLayer`` that refuses everything and a ``Scheduler``. Returns the
    socket and the autobahn request to pass to ``onConnect``."""
    from autobahn.websocket.types import ConnectionRequest

    socket = BoundedWebSocketProtocol()
    socket.channel_layer = FullLayer()
    socket.channel_layer.full = True
    socket.main_factory = Stub(
        send_channel="daphne.response.test!",
        make_send_channel=lambda: "daphne.response.test!hs",
        reply_protocols={},
        proxy_forwarded_address_header=None,
        websocket_connect_timeout=connect_timeout,
    )
    socket.factory = Stub(protocols=[], log_action=lambda *args: None, reply_protocols={})
    address = Stub(host="127.0.0.1", port=5000)
    socket.transport = Stub(getPeer=lambda: address, getHost=lambda: address)
    socket._raw_query_string = b""
    socket.call_later = Scheduler()
    request = ConnectionRequest(
        peer="tcp:127.0.0.1:5000",
        headers={"host": "127.0.0.1", "origin": "http://127.0.0.1"},
        host="127.0.0.1",
        path="/chat/room/",
        params={},
        version=13,
        origin="http://127.0.0.1",
        protocols=[],
        extensions=[],
    )
    return socket, request


def outcome(deferred):
    """What ``deferred`` has fired with so far: a list of its result or
    failure's value (empty while it has not fired)."""
    fired = []
    deferred.addBoth(lambda result: fired.append(getattr(result, "value", result)))
    return fired


def test_a_handshake_meeting_a_full_connect_channel_is_held_then_sent_on(caplog):
    socket, request = make_handshaking_socket()
    layer, scheduler = socket.channel_layer, socket.call_later

    handshake = socket.onConnect(request)

    fired = outcome(handshake)
    assert fired == [] and not socket.muted
    assert layer.refused == 1 and layer.sent == []
    assert "Holding the handshake" in caplog.text
    scheduler.run_due()
    assert layer.refused == 2 and scheduler.delays == [0.01, 0.02]

    layer.full = False
    scheduler.run_due()

    assert [(channel, message["path"]) for channel, message in layer.sent] == [
        ("websocket.connect", "/chat/room/")
    ]
    assert layer.sent[0][1]["reply_channel"] == "daphne.response.test!hs"
    # Still waiting, now for a worker's accept, as any handshake does.
    assert fired == [] and scheduler.pending == []


def test_a_held_handshake_is_refused_with_503_before_daphnes_timeout_would_end_it():
    from autobahn.websocket.types import ConnectionDeny

    socket, request = make_handshaking_socket(connect_timeout=0)
    fired = outcome(socket.onConnect(request))

    socket.call_later.run_due()

    assert len(fired) == 1 and isinstance(fired[0], ConnectionDeny)
    assert fired[0].code == 503
    assert socket.muted and socket.channel_layer.sent == []
    assert socket.call_later.pending == []


def test_daphnes_connect_backpressure_warning_is_dropped_and_nothing_else():
    import logging

    from chat.transport.daphne_websocket import HeldHandshakeFilter

    def record(message):
        return logging.LogRecord("daphne.ws_protocol", logging.WARNING, "", 0, message, (), None)

    held = HeldHandshakeFilter()
    assert not held.filter(record("WebSocket force closed for x due to connect backpressure"))
    assert held.filter(record("WebSocket force closed for x due to receive backpressure"))


def test_nothing_a_client_sends_after_its_access_denied_close_is_forwarded():
    socket = make_socket()
    socket.sendClose = lambda code=None, reason=None: socket.closed_with.append(code)
    send_text(socket, '{"handle": "ann", "message": "before"}')
    socket.serverClose(code=4003)
    send_text(socket, '{"handle": "ann", "message": "after"}', count=3)
    assert [message["text"] for message in forwarded(socket)] == [
        '{"handle": "ann", "message": "before"}'
    ]
    assert socket.closed_with == [4003]


def test_other_server_closes_still_forward_what_the_client_sent_first():
    socket = make_socket()
    socket.sendClose = lambda code=None, reason=None: socket.closed_with.append(code)
    socket.serverClose(code=1012)
    send_text(socket, '{"handle": "ann", "message": "in flight"}')
    assert len(forwarded(socket)) == 1


def test_the_factory_caps_messages_and_frames_at_the_protocols_longest_frame_in_bytes():
    factory = BoundedWebSocketFactory(main_factory=None, server="Daphne")

    assert factory.maxMessagePayloadSize == 4 * conf.max_frame_length()
    assert factory.maxFramePayloadSize == 4 * conf.max_frame_length()
    # A close frame with the code, not a dropped connection.
    assert factory.failByDrop is False


@override_settings(CHAT_MESSAGE_MAX_LENGTH=100, CHAT_HANDLE_MAX_LENGTH=10)
def test_the_cap_follows_the_message_limits():
    # The message, the handle and a nonce of 64 (conf.NONCE_MAX_LENGTH).
    assert payload_limits()["maxMessagePayloadSize"] == 4 * (12 * (110 + 64) + 200)


def test_a_message_over_the_cap_is_closed_with_1009_from_its_header():
    factory = BoundedWebSocketFactory(main_factory=None, server="Daphne")
    socket = make_socket()
    for name in socket.CONFIG_ATTRS:
        setattr(socket, name, getattr(factory, name))
    socket.failedByMe = False
    socket.onMessageBegin(False)

    socket.onMessageFrameBegin(conf.websocket_payload_max_bytes() + 1)

    assert socket.closed_with == [1009]
    assert socket.wasMaxMessagePayloadSizeExceeded


def test_install_puts_the_factory_in_place(monkeypatch):
    monkeypatch.setattr(http_protocol, "WebSocketProtocol", http_protocol.WebSocketProtocol)
    monkeypatch.setattr(http_protocol, "WebSocketFactory", http_protocol.WebSocketFactory)
    install()
    assert http_protocol.WebSocketFactory is BoundedWebSocketFactory
    assert http_protocol.WebSocketProtocol is BoundedWebSocketProtocol
