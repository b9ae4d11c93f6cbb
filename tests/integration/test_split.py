"""The chat on the real split: Daphne and two runworker processes, real
Redis and PostgreSQL, real WebSocket clients."""

import re
import urllib.request

import pytest
import websocket

from bench.chat_client import ChatClient, stored_messages, unique_label
from chat import conf

pytestmark = pytest.mark.integration


def test_every_member_receives_every_message_in_one_order_and_rows_are_stored(split, split_env):
    label = unique_label("order")
    members = [ChatClient(split, label) for _ in range(3)]
    per_sender = 10
    for n in range(per_sender):
        for i, member in enumerate(members):
            member.send("member-%d" % i, "message %d" % n)

    received = [member.receive_many(per_sender * len(members)) for member in members]

    # Every member saw the same messages in the same order, which is id order.
    ids = [[m["id"] for m in frames] for frames in received]
    assert ids[0] == ids[1] == ids[2]
    assert ids[0] == sorted(ids[0]) and len(set(ids[0])) == per_sender * len(members)
    # Each sender's messages arrived in the order they were sent.
    for i in range(len(members)):
        texts = [m["message"] for m in received[0] if m["handle"] == "member-%d" % i]
        assert texts == ["message %d" % n for n in range(per_sender)]
    # And PostgreSQL holds exactly those messages.
    rows = stored_messages(split_env["DATABASE_URL"], label)
    assert rows == [(m["id"], m["handle"], m["message"]) for m in received[0]]
    for member in members:
        member.close()


def test_a_client_that_sends_and_closes_at_once_has_its_message_stored(split, split_env):
    # Like a script posting one line: its disconnect follows its frame at
    # once, and may reach a worker while the frame is still being handled.
    label = unique_label("sendclose")
    listener = ChatClient(split, label)
    texts = ["one-shot %d" % n for n in range(40)]
    for text in texts:
        client = ChatClient(split, label)
        client.send("script", text)
        client.close()

    heard = set()
    listener.receive_until(lambda frame: heard.add(frame.get("message")) or set(texts) <= heard)
    listener.close()
    stored = [row[2] for row in stored_messages(split_env["DATABASE_URL"], label)]
    assert sorted(stored) == sorted(texts)


def test_the_room_page_shows_what_was_said(split):
    label = unique_label("page")
    member = ChatClient(split, label)
    member.send("ann", "hello <b>page</b>")
    echoed = member.receive()
    member.close()

    with urllib.request.urlopen("%s/%s/" % (split.base_url, label)) as response:
        page = response.read().decode()

    assert 'data-id="%d"' % echoed["id"] in page
    assert "hello &lt;b&gt;page&lt;/b&gt;" in page


def test_a_fifty_member_room_receives_twenty_messages_without_loss(split):
    label = unique_label("fanout")
    members = [ChatClient(split, label, timeout=60) for _ in range(50)]
    # Four speakers, five messages each: within every socket's rate limit.
    sent = {"speaker-%d: %d" % (s, n) for s in range(4) for n in range(5)}
    for n in range(5):
        for s, speaker in enumerate(members[:4]):
            speaker.send("speaker-%d" % s, "speaker-%d: %d" % (s, n))

    orders = []
    for member in members:
        frames = member.receive_many(len(sent))
        assert {f["message"] for f in frames} == sent
        orders.append([f["id"] for f in frames])
    assert all(order == orders[0] for order in orders)
    for member in members:
        member.close()


def test_a_refused_frame_gets_an_error_only_to_its_sender_and_nothing_is_stored(split, split_env):
    label = unique_label("refuse")
    sender, other = ChatClient(split, label), ChatClient(split, label)

    sender.send_raw("{not json")
    assert sender.receive()["error"] == "INVALID_JSON"
    # The socket stays open and usable, and the other member saw only this.
    sender.send("ann", "still here")
    assert sender.receive()["message"] == "still here"
    assert other.receive()["message"] == "still here"
    assert [row[2] for row in stored_messages(split_env["DATABASE_URL"], label)] == ["still here"]
    sender.close()
    other.close()


@pytest.mark.parametrize(
    "path, origin",
    [
        ("/chat/not a slug/", None),
        ("/chat/%s/" % ("x" * 51), None),
        ("/elsewhere/", None),
        ("/chat/lobby/", "http://evil.example.com"),
    ],
)
def test_a_bad_label_path_or_origin_is_refused_at_the_handshake(split, path, origin):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            split.ws_url(path.replace(" ", "%20")), timeout=30, origin=origin or split.base_url
        )
    assert refused.value.status_code == 403


def test_static_files_are_served_by_the_web_process(split):
    # A browser runs a module only when it comes as JavaScript.
    with urllib.request.urlopen(split.base_url + "/static/chat/room/main.mjs") as response:
        body = response.read().decode()
    assert response.status == 200
    assert response.headers.get_content_type() == "text/javascript"
    imported = re.findall(r'from "\./([-\w]+\.mjs)"', body)
    assert "connection.mjs" in imported and "keeping-up.mjs" in imported
    for name in imported:
        with urllib.request.urlopen(split.base_url + "/static/chat/room/" + name) as response:
            assert response.status == 200
            assert response.headers.get_content_type() == "text/javascript"
    with urllib.request.urlopen(split.base_url + "/static/chat/room/connection.mjs") as response:
        assert "new WebSocket(this.url)" in response.read().decode()


def test_a_room_opened_over_websocket_is_listed_on_the_index_once_it_has_a_message(split):
    label, visited = unique_label("listed"), unique_label("visited")
    ChatClient(split, visited).close()
    member = ChatClient(split, label)
    member.send("ann", "first")
    assert member.receive()["message"] == "first"
    member.close()
    with urllib.request.urlopen(split.base_url + "/") as response:
        page = response.read().decode()
    assert 'href="/%s/"' % label in page
    assert 'href="/%s/"' % visited not in page


def test_a_frame_over_the_limit_is_refused_and_the_socket_stays_usable(split, split_env):
    # Under autobahn's cap, which closes the socket with 1009 instead
    # (tests/integration/test_request_limits.py).
    label = unique_label("huge")
    sender = ChatClient(split, label)
    sender.send("ann", "m" * (conf.websocket_payload_max_bytes() - 100))
    assert sender.receive()["error"] == "FRAME_TOO_LARGE"
    sender.send("ann", "small")
    assert sender.receive()["message"] == "small"
    assert [row[2] for row in stored_messages(split_env["DATABASE_URL"], label)] == ["small"]
    sender.close()


def test_a_flood_is_rate_limited_and_the_rest_of_the_room_goes_on(split, split_env):
    label = unique_label("flood")
    flooder, other = ChatClient(split, label), ChatClient(split, label)
    for n in range(30):
        flooder.send("flood", "spam %d" % n)
    frames = flooder.receive_many(30)

    limited = [f for f in frames if f.get("error") == "RATE_LIMITED"]
    accepted = [f["message"] for f in frames if "message" in f]
    assert len(limited) >= 15 and len(limited) + len(accepted) == 30
    # The other member gets through at once, and saw only what was stored.
    other.send("bob", "my turn")
    seen = [f["message"] for f in other.receive_many(len(accepted) + 1)]
    assert seen == accepted + ["my turn"]
    stored = [row[2] for row in stored_messages(split_env["DATABASE_URL"], label)]
    assert stored == accepted + ["my turn"]
    flooder.close()
    other.close()
