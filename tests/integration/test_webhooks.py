"""Outgoing webhooks on the real split: messages sent over real WebSockets
reach a room's webhook, signed and at least once, and an endpoint that
takes its time never delays the room."""

import hashlib
import hmac
import json
import secrets
import time

import psycopg2
import pytest

from bench.chat_client import ChatClient, unique_label
from tests.services import wait_for
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.integration


def set_webhook(split_env, label, url):
    """Give the room ``label`` in the split's database the webhook ``url``
    and a fresh secret, as the admin would; returns the secret (str)."""
    secret = secrets.token_hex(32)
    with psycopg2.connect(split_env["DATABASE_URL"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE chat_room SET webhook_url = %s, webhook_secret = %s WHERE label = %s",
                [url, secret, label],
            )
            assert cursor.rowcount == 1
    connection.close()
    return secret


def deliveries(split_env, label):
    """The room's ``chat_webhookdelivery`` rows, by message id: a list of
    ``(message_id, status, attempts, response_status)``."""
    with psycopg2.connect(split_env["DATABASE_URL"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT d.message_id, d.status, d.attempts, d.response_status "
                "FROM chat_webhookdelivery d JOIN chat_room r ON r.id = d.room_id "
                "WHERE r.label = %s ORDER BY d.message_id",
                [label],
            )
            rows = cursor.fetchall()
    connection.close()
    return rows


def test_every_message_sent_over_a_socket_reaches_the_webhook_signed(split, split_env):
    label = unique_label("hooked")
    # The first request is refused, so one delivery comes by its retry.
    with Receiver(statuses=[503]) as receiver:
        member = ChatClient(split, label)  # its connect creates the room
        secret = set_webhook(split_env, label, receiver.url)
        received = []
        for n in range(5):
            member.send("ann", "message %d" % n)
            received.append(member.receive())
        member.close()

        def all_delivered():
            rows = deliveries(split_env, label)
            return len(rows) == 5 and all(row[1] == "delivered" for row in rows) and rows

        rows = wait_for(all_delivered, 30, "five delivered webhooks")
        requests = list(receiver.requests)

    ids = [frame["id"] for frame in received]
    assert [row[0] for row in rows] == ids
    assert sorted(row[2] for row in rows) == [1, 1, 1, 1, 2]
    assert {row[3] for row in rows} == {200}
    assert len(requests) == 6
    for headers, body in requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-chat-signature"], expected)
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "chat-webhooks"
    bodies = {}
    for headers, body in requests:
        bodies.setdefault(headers["x-chat-delivery"], set()).add(body)
    # Five deliveries, the retried one carrying the same bytes both times.
    assert len(bodies) == 5
    assert all(len(sent) == 1 for sent in bodies.values())
    delivered = sorted(
        (json.loads(body) for [body] in bodies.values()), key=lambda d: d["message"]["seq"]
    )
    assert delivered == [{"type": "message", "room": label, "message": m} for m in received]


def test_an_endpoint_that_sleeps_does_not_delay_the_room(split, split_env):
    label = unique_label("slowhook")
    # Each request waits 10 s before its answer (longer than the chat's
    # 5 s timeout, so every try times out).
    with Receiver(hold_s=10) as receiver:
        sender = ChatClient(split, label)
        listener = ChatClient(split, label)
        set_webhook(split_env, label, receiver.url)
        sender.send("ann", "wake the hook")
        assert listener.receive()["message"] == "wake the hook"
        wait_for(receiver.count, 10, "the first delivery")
        asleep_since = time.monotonic()

        texts = ["quick %d" % n for n in range(5)]
        for text in texts:
            sender.send("ann", text)
        frames = listener.receive_until(lambda frame: frame.get("message") == texts[-1], 5)
        took = time.monotonic() - asleep_since
        answered = receiver.answered
        sender.close()
        listener.close()

    # All five arrived, in order, while the endpoint had not answered once.
    assert [frame["message"] for frame in frames] == texts
    assert answered == 0
    assert took < 10
