"""Outgoing webhooks on the real split: messages sent over real WebSockets
reach a room's webhook, signed and at least once, and an endpoint that
takes its time never delays the room; under the production rule, a
webhook on the inside receives nothing.

The session's ``split`` runs as production does, so its webhooks reach
public https addresses only. The tests whose receiver is on 127.0.0.1 run
on a split of their own (``lenient_split``) given the tests' allowance:
plain http, and loopback."""

import hashlib
import hmac
import json
import os
import secrets
import time
import uuid

import psycopg2
import pytest

from bench import split as split_processes
from bench.chat_client import ChatClient, unique_label
from tests import services
from tests.services import wait_for
from tests.test_webhooks import Receiver, timestamped_signature_ok

pytestmark = pytest.mark.integration

# The tests' allowance, as environment variables (chat/settings.py).
LOOPBACK_ALLOWED = {
    "CHAT_WEBHOOK_ALLOW_HTTP": "1",
    "CHAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
}


@pytest.fixture(scope="module")
def lenient_env(split_env, postgres_url, redis_url):
    """A split's environment like ``split_env`` but with the tests'
    allowance, its own scratch database and its own Redis prefix, so that
    nothing it does reaches the production-like split, nor the reverse."""
    tag = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
    prefix = "asgi-test-lenient-%s:" % tag
    with services.scratch_database(postgres_url, "chat_test_lenient_%s" % tag) as database_url:
        yield dict(
            split_env,
            DATABASE_URL=database_url,
            CHANNEL_LAYER_PREFIX=prefix,
            **LOOPBACK_ALLOWED,
        )
    services.delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def lenient_split(lenient_env):
    """A real split (one Daphne, two workers) run with ``lenient_env``."""
    with split_processes.running(lenient_env, workers=2) as running:
        yield running
        running.check_alive()


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


def deliveries(split_env, label, columns="d.message_id, d.status, d.attempts, d.response_status"):
    """The room's ``chat_webhookdelivery`` rows, by message id: a list of
    tuples of ``columns`` (SQL, ``d`` the delivery; by default
    ``(message_id, status, attempts, response_status)``)."""
    with psycopg2.connect(split_env["DATABASE_URL"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + columns + " "
                "FROM chat_webhookdelivery d JOIN chat_room r ON r.id = d.room_id "
                "WHERE r.label = %s ORDER BY d.message_id",
                [label],
            )
            rows = cursor.fetchall()
    connection.close()
    return rows


def test_every_message_sent_over_a_socket_reaches_the_webhook_signed(lenient_split, lenient_env):
    split, split_env = lenient_split, lenient_env
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
        assert timestamped_signature_ok(secret, headers["x-chat-timestamped-signature"], body)
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
    assert delivered == [
        {"type": "message", "event": "message", "room": label, "message": m} for m in received
    ]


def test_an_endpoint_that_sleeps_does_not_delay_the_room(lenient_split, lenient_env):
    split, split_env = lenient_split, lenient_env
    label = unique_label("slowhook")
    # Each request waits 10 s before its answer (as long as the chat's
    # deadline for a try, so every try times out).
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


def test_a_webhook_on_loopback_receives_nothing_under_the_production_rule(split, split_env):
    label = unique_label("insidehook")
    with Receiver() as receiver:
        member = ChatClient(split, label)
        set_webhook(split_env, label, receiver.url)  # http://127.0.0.1:<port>/hook
        # Past the workers' 5 s cache of the room's URL, so the messages
        # below are queued for it.
        time.sleep(6)
        for n in range(3):
            member.send("ann", "probe %d" % n)
            assert member.receive()["message"] == "probe %d" % n
        member.close()

        def all_ended():
            rows = deliveries(split_env, label, "d.status, d.attempts, d.error, d.response_status")
            return len(rows) == 3 and all(row[0] != "pending" for row in rows) and rows

        rows = wait_for(all_ended, 30, "three refused deliveries")
        # Any request that was on its way has had ample time to arrive.
        time.sleep(1)
        received = receiver.count()

    assert received == 0
    assert rows == [("failed", 1, "refused: https required", None)] * 3
