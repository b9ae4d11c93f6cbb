"""Outgoing webhooks (chat/webhooks.py): signing, queueing, delivery with
retries against a real HTTP endpoint on 127.0.0.1, the sweep, and the
admin's view of them. The channel layer is the in-memory one.

Every test here runs with the tests' allowance (plain http, and loopback,
where ``Receiver`` listens), except those that prove the production rule
refuses, which turn it off again (the ``production`` fixture)."""

import datetime
import hashlib
import hmac
import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.inmemory import ChannelLayer as InMemoryChannelLayer
from channels import DEFAULT_CHANNEL_LAYER
from channels.asgi import ChannelLayerWrapper, channel_layers
from django.contrib.auth.models import User
from django.core.cache import caches
from django.utils import timezone

from chat import services, webhooks
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.models import Room, WebhookDelivery
from tests.factories import make_room
from tests.services import free_port, wait_for

# GitHub's documented example of X-Hub-Signature-256 ("Validating webhook
# deliveries"): this secret and body give this signature.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


class Receiver:
    """A webhook endpoint: an HTTP server on 127.0.0.1 in a thread of its
    own, for the unit and the integration tests.

    Every POST is recorded in ``requests`` as ``(headers, body)`` (a dict of
    lower-cased names to str, and bytes). The answers' statuses are taken
    from ``statuses`` (int) in turn, then ``default``. With ``hold_s`` (s),
    each request waits that long, or until ``release`` is set, before its
    answer. ``answered`` counts the answers sent."""

    def __init__(self, statuses=(), default=200, hold_s=0):
        self.requests = []
        self.answered = 0
        self.release = threading.Event()
        self.hold_s = hold_s
        self._statuses = list(statuses)
        self._default = default
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        ({name.lower(): value for name, value in self.headers.items()}, body)
                    )
                    status = receiver._statuses.pop(0) if receiver._statuses else receiver._default
                if receiver.hold_s:
                    receiver.release.wait(receiver.hold_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._lock:
                    receiver.answered += 1

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that gave up on a held answer: not the test's concern.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self):
        with self._lock:
            return len(self.requests)


def signature_ok(secret, headers, body):
    """Whether ``headers`` carry the body-only signature of ``body`` under
    ``secret``, checked as docs/protocol.md told receivers to before
    2026-12-04."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-chat-signature"])


def timestamped_signature_ok(secret, header, body, now=None, tolerance_s=300):
    """Whether ``header`` (an X-Chat-Timestamped-Signature value, or None)
    signs ``body`` under ``secret`` at a time within ``tolerance_s`` of
    ``now``: docs/protocol.md's receiver check, copied."""
    try:
        fields = dict(part.split("=", 1) for part in (header or "").split(","))
        timestamp = int(fields["t"])
        signature = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The tests' allowance: plain http, and loopback, where ``Receiver``
    listens. Production allows neither (chat/conf.py)."""
    settings.CHAT_WEBHOOK_ALLOW_HTTP = True
    settings.CHAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def production(settings):
    """The production rule: https only, public addresses only."""
    settings.CHAT_WEBHOOK_ALLOW_HTTP = False
    settings.CHAT_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture(autouse=True)
def fresh_url_cache():
    """Forget the rooms' cached webhook URLs: room ids are reused between
    tests."""
    caches[webhooks.URL_CACHE_ALIAS].clear()
    yield
    caches[webhooks.URL_CACHE_ALIAS].clear()


@pytest.fixture
def layer():
    """A fresh in-memory channel layer in place of the default one; returns
    a function that takes the next message on a channel (dict, or None)."""
    old = channel_layers.set(
        DEFAULT_CHANNEL_LAYER,
        ChannelLayerWrapper(
            InMemoryChannelLayer(),
            DEFAULT_CHANNEL_LAYER,
            channel_layers[DEFAULT_CHANNEL_LAYER].routing[:],
        ),
    )

    def next_message(channel):
        _, content = channel_layers[DEFAULT_CHANNEL_LAYER].receive_many([channel])
        return content

    yield next_message
    channel_layers.set(DEFAULT_CHANNEL_LAYER, old)


def hooked_room(url, label="hooked"):
    """A saved room whose webhook is ``url``; its secret is made on save."""
    return Room.objects.create(label=label, name=label, webhook_url=url)


def pending_delivery(room, text="hello", **fields):
    """A stored message in ``room`` and its PENDING delivery, made as
    ``post_message`` would, but without sending anything."""
    message = room.messages.create(handle="ann", message=text, seq=room.messages.count() + 1)
    return WebhookDelivery.objects.create(
        room=room, message=message, url=room.webhook_url, **fields
    )


def make_due(delivery):
    """Make ``delivery``'s next try due now, instead of after its wait."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# Signing


def test_the_signature_is_githubs_hmac_sha256_on_its_documented_example():
    assert webhooks.sign(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE


def test_the_signature_depends_on_every_byte_of_the_body_and_on_the_secret():
    signature = webhooks.sign(GITHUB_SECRET, GITHUB_BODY)
    assert webhooks.sign(GITHUB_SECRET, GITHUB_BODY + b" ") != signature
    assert webhooks.sign(GITHUB_SECRET + "x", GITHUB_BODY) != signature


def test_the_timestamped_signature_is_hmac_sha256_of_the_time_a_dot_and_the_body():
    # Computed apart: HMAC-SHA256 keyed "It's a Secret to Everybody" over
    # b"1764806400.Hello, World!".
    expected = hmac.new(
        GITHUB_SECRET.encode(), b"1764806400.Hello, World!", hashlib.sha256
    ).hexdigest()

    header = webhooks.sign_timestamped(GITHUB_SECRET, GITHUB_BODY, 1764806400)

    assert header == "t=1764806400,v1=" + expected
    # The example docs/protocol.md gives.
    assert header == (
        "t=1764806400,v1=1c13d37ae4be0f8c34c2887b500b1ba77a09c7e46951fe0b078457ce3e73cb6d"
    )
    assert timestamped_signature_ok(GITHUB_SECRET, header, GITHUB_BODY, now=1764806400 + 299)


def test_a_timestamped_signature_replayed_after_five_minutes_or_moved_to_another_time_fails():
    header = webhooks.sign_timestamped(GITHUB_SECRET, GITHUB_BODY, 1764806400)
    moved = header.replace("t=1764806400", "t=1764806700")

    assert not timestamped_signature_ok(GITHUB_SECRET, header, GITHUB_BODY, now=1764806400 + 301)
    assert not timestamped_signature_ok(GITHUB_SECRET, moved, GITHUB_BODY, now=1764806700)
    assert not timestamped_signature_ok(GITHUB_SECRET, header, GITHUB_BODY + b" ", 1764806400)
    assert not timestamped_signature_ok(GITHUB_SECRET, None, GITHUB_BODY, now=1764806400)


# Queueing


@pytest.mark.django_db(transaction=True)
def test_a_message_in_a_room_with_a_webhook_is_queued_once_on_the_channel(layer):
    room = hooked_room("http://127.0.0.1:9/hook")

    # A socket's partial room, as its channel session gives it.
    message = services.post_message(Room(pk=room.pk, label=room.label), "ann", "hello")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.room_id, delivery.message_id, delivery.url) == (
        room.pk,
        message.pk,
        "http://127.0.0.1:9/hook",
    )
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.PENDING, 0)
    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": delivery.pk}
    assert layer(webhooks.DELIVERY_CHANNEL) is None


@pytest.mark.django_db(transaction=True)
def test_a_room_without_a_webhook_queues_nothing_and_costs_no_query_once_cached(
    layer, django_assert_num_queries
):
    room = make_room()
    message = services.post_message(room, "ann", "first")  # fills the cache

    with django_assert_num_queries(0):
        assert webhooks.enqueue(room, message) is None

    assert not WebhookDelivery.objects.exists()
    assert layer(webhooks.DELIVERY_CHANNEL) is None


@pytest.mark.django_db(transaction=True)
def test_a_url_set_in_the_admin_is_used_once_the_cached_one_expires(layer, monkeypatch):
    monkeypatch.setattr(webhooks, "URL_CACHE_S", 0.3)
    room = make_room()
    message = services.post_message(room, "ann", "before")
    room.webhook_url = "http://127.0.0.1:9/hook"
    room.save()

    # Within the cache's life the room still has no webhook here...
    assert webhooks.enqueue(room, message) is None
    # ...and after it, it has.
    delivery = wait_for(lambda: webhooks.enqueue(room, message), 5, "the new URL")
    assert delivery.url == "http://127.0.0.1:9/hook"
    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": delivery.pk}


@pytest.mark.django_db(transaction=True)
def test_a_full_channel_neither_fails_the_message_nor_loses_the_delivery(layer, caplog):
    room = hooked_room("http://127.0.0.1:9/hook")
    channel_layers[DEFAULT_CHANNEL_LAYER].channel_layer.capacity = 1
    channel_layers[DEFAULT_CHANNEL_LAYER].send(webhooks.DELIVERY_CHANNEL, {"delivery": 0})
    room.group.add("member")

    message = services.post_message(room, "ann", "hello")

    # The message was stored and broadcast; its delivery waits for the sweep.
    assert json.loads(layer("member")["text"]) == message.as_dict()
    assert WebhookDelivery.objects.get().status == WebhookDelivery.PENDING
    assert "Could not send webhook delivery" in caplog.text
    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": 0}
    assert layer(webhooks.DELIVERY_CHANNEL) is None


@pytest.mark.django_db
def test_a_bots_message_said_from_anywhere_is_delivered_in_its_live_shape():
    with Receiver() as receiver:
        hooked_room(receiver.url)
        # chatsay and the HTTP API post through say().
        message = services.say("hooked", "robot", "beep", bot=True)
        delivery = WebhookDelivery.objects.get(message=message)
        assert webhooks.attempt(delivery.pk) is None

    [(_, body)] = receiver.requests
    assert json.loads(body)["message"] == dict(message.as_dict(), bot=True)


# One try


@pytest.mark.django_db
def test_a_2xx_answer_delivers_the_signed_message_once():
    with Receiver(default=204) as receiver:
        room = hooked_room(receiver.url)
        delivery = pending_delivery(room, "héllo")

        assert webhooks.attempt(delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.error) == (
        WebhookDelivery.DELIVERED,
        1,
        204,
        "",
    )
    assert delivery.finished_at is not None
    [(headers, body)] = receiver.requests
    assert json.loads(body) == {
        "type": "message",
        "event": "message",
        "room": "hooked",
        "message": delivery.message.as_dict(),
    }
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "chat-webhooks"
    assert headers["x-chat-delivery"] == str(delivery.pk)
    assert len(room.webhook_secret) == 64
    # Both signatures: the old header for receivers deployed before the
    # timestamped one, which a receiver checks within its window.
    assert signature_ok(room.webhook_secret, headers, body)
    assert not signature_ok("0" * 64, headers, body)
    header = headers["x-chat-timestamped-signature"]
    assert timestamped_signature_ok(room.webhook_secret, header, body)
    assert not timestamped_signature_ok("0" * 64, header, body)


@pytest.mark.django_db
def test_a_failed_try_is_recorded_and_the_next_waits_for_its_backoff():
    with Receiver(default=500) as receiver:
        delivery = pending_delivery(hooked_room(receiver.url))

        before = timezone.now()
        delay = webhooks.attempt(delivery.pk)
        after = timezone.now()
        # Not due yet: a second copy of the delivery makes no request.
        assert webhooks.attempt(delivery.pk) is None

    assert delay == 1.0
    assert receiver.count() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        WebhookDelivery.PENDING,
        1,
        500,
    )
    assert delivery.error == "HTTP 500"
    assert delivery.finished_at is None
    one_second = datetime.timedelta(seconds=1)
    assert before + one_second <= delivery.next_attempt_at <= after + one_second


@pytest.mark.django_db
def test_the_waits_double_and_the_fifth_failure_is_final():
    with Receiver(default=503) as receiver:
        delivery = pending_delivery(hooked_room(receiver.url))
        delays = []
        for _ in range(webhooks.MAX_ATTEMPTS):
            delays.append(webhooks.attempt(delivery.pk))
            make_due(delivery)
        # Failed for good: even a due copy makes no more requests.
        assert webhooks.attempt(delivery.pk) is None

    assert delays == [1.0, 2.0, 4.0, 8.0, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        WebhookDelivery.FAILED,
        5,
        503,
    )
    assert delivery.error == "HTTP 503"
    assert delivery.finished_at is not None
    assert receiver.count() == 5
    # Every try carried the same delivery id and the same signed bytes.
    assert (
        len({(h["x-chat-delivery"], h["x-chat-signature"], b) for h, b in receiver.requests}) == 1
    )


@pytest.mark.django_db
def test_an_endpoint_that_refuses_connections_is_a_failed_try_without_a_status():
    delivery = pending_delivery(hooked_room("http://127.0.0.1:%d/hook" % free_port()))

    assert webhooks.attempt(delivery.pk) == 1.0

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status) == (1, None)
    assert delivery.error == "connection failed"


@pytest.mark.django_db
def test_an_endpoint_that_does_not_answer_in_time_is_a_failed_try(settings):
    settings.CHAT_WEBHOOK_DEADLINE_SECONDS = 0.3
    with Receiver(hold_s=30) as receiver:
        delivery = pending_delivery(hooked_room(receiver.url))
        started = time.monotonic()
        delay = webhooks.attempt(delivery.pk)
        took = time.monotonic() - started
        answered = receiver.answered

    assert delay == 1.0
    assert took < 5
    assert answered == 0  # the endpoint was still holding its answer
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status) == (1, None)
    assert delivery.error == "timed out"


@pytest.mark.django_db
def test_a_redirect_is_not_followed_but_a_failed_try():
    with Receiver(default=302) as receiver:
        delivery = pending_delivery(hooked_room(receiver.url))
        assert webhooks.attempt(delivery.pk) == 1.0

    delivery.refresh_from_db()
    assert (delivery.response_status, delivery.status) == (302, WebhookDelivery.PENDING)


# The production rule


@pytest.mark.django_db
@pytest.mark.parametrize(
    "template, reason",
    [
        ("http://127.0.0.1:%d/hook", "refused: https required"),
        ("https://127.0.0.1:%d/hook", "refused: address not allowed"),
        ("https://[::ffff:127.0.0.1]:%d/hook", "refused: address not allowed"),
    ],
)
def test_a_loopback_webhook_receives_nothing_and_the_refusal_is_final(production, template, reason):
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        delivery = pending_delivery(hooked_room(template % port))

        assert webhooks.attempt(delivery.pk) is None
        # Failed for good: even a due copy makes no request.
        make_due(delivery)
        assert webhooks.attempt(delivery.pk) is None

    assert receiver.count() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.error) == (
        WebhookDelivery.FAILED,
        1,
        None,
        reason,
    )
    assert delivery.finished_at is not None


@pytest.mark.django_db
def test_a_name_that_resolves_to_the_metadata_service_is_refused_at_delivery(
    production, monkeypatch
):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("169.254.169.254", port))
        ],
    )
    delivery = pending_delivery(hooked_room("https://hook.example/hook"))

    assert webhooks.attempt(delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.error) == (
        WebhookDelivery.FAILED,
        "refused: address not allowed",
    )


@pytest.mark.django_db
def test_what_answers_on_the_inside_cannot_be_told_from_the_recorded_errors():
    # Under the allowance, so that something is reached: a closed port and
    # a server speaking another protocol read the same.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    other = socket.create_server(("127.0.0.1", 0))

    def speak_ssh():
        connection, _ = other.accept()
        connection.recv(65536)
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        connection.close()

    threading.Thread(target=speak_ssh, daemon=True).start()
    room = hooked_room("http://127.0.0.1:%d/hook" % closed_port)
    first = pending_delivery(room)
    second = WebhookDelivery.objects.create(
        room=room,
        message=first.message,
        url="http://127.0.0.1:%d/hook" % other.getsockname()[1],
    )

    webhooks.attempt(first.pk)
    webhooks.attempt(second.pk)
    other.close()

    errors = set(WebhookDelivery.objects.values_list("error", flat=True))
    assert errors == {"connection failed"}


# The pool


@pytest.fixture
def tries(monkeypatch):
    """The outcomes of the pool's tries, as they finish: a ``queue.Queue``
    of ``(delivery id, returned wait or None)``."""
    finished = queue.Queue()
    real_attempt = webhooks.attempt

    def attempt(delivery_id):
        delay = real_attempt(delivery_id)
        finished.put((delivery_id, delay))
        return delay

    monkeypatch.setattr(webhooks, "attempt", attempt)
    return finished


@pytest.mark.django_db(transaction=True)
def test_the_consumer_returns_at_once_while_the_endpoint_takes_its_time(layer, tries):
    with Receiver(hold_s=30) as receiver:
        room = hooked_room(receiver.url)
        message = services.post_message(room, "ann", "hello")
        content = layer(webhooks.DELIVERY_CHANNEL)

        started = time.monotonic()
        webhooks.deliver(FakeMessage(content))
        returned_after = time.monotonic() - started
        wait_for(receiver.count, 10, "the request")
        assert tries.empty()  # the try is still waiting for its answer
        receiver.release.set()
        assert tries.get(timeout=10) == (content["delivery"], None)

    assert returned_after < 0.5
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.message_id) == (WebhookDelivery.DELIVERED, message.pk)


@pytest.mark.django_db(transaction=True)
def test_the_pool_tries_again_after_each_wait_until_delivered(layer, tries, monkeypatch):
    monkeypatch.setattr(webhooks, "FIRST_RETRY_S", 0.05)
    with Receiver(statuses=[500, 502]) as receiver:
        hooked_room(receiver.url)
        services.post_message(Room.objects.get(), "ann", "hello")
        webhooks.deliver(FakeMessage(layer(webhooks.DELIVERY_CHANNEL)))

        outcomes = [tries.get(timeout=10)[1] for _ in range(3)]

    assert outcomes == [0.05, 0.1, None]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        WebhookDelivery.DELIVERED,
        3,
        200,
    )
    assert receiver.count() == 3


def test_a_malformed_channel_message_is_ignored(caplog):
    webhooks.deliver(FakeMessage({"delivery": "x"}))
    assert "malformed" in caplog.text


def test_the_due_queue_hands_out_items_in_due_order_and_refuses_beyond_its_size():
    due = webhooks.DueQueue(maxsize=3)
    assert due.put("later", delay=0.2)
    assert due.put("first")
    assert due.put("second", delay=0.05)
    assert not due.put("one too many")
    started = time.monotonic()
    assert [due.get(), due.get(), due.get()] == ["first", "second", "later"]
    assert time.monotonic() - started >= 0.2
    assert len(due) == 0


class FakeMessage:
    """A channel message as a consumer gets it: only ``content`` is read."""

    def __init__(self, content):
        self.content = content


# The sweep


@pytest.mark.django_db
def test_the_sweep_resends_only_deliveries_pending_well_past_their_time(layer):
    room = hooked_room("http://127.0.0.1:9/hook")
    now = timezone.now()
    ago = lambda seconds: now - datetime.timedelta(seconds=seconds)  # noqa: E731
    lost = pending_delivery(room, next_attempt_at=ago(61))
    pending_delivery(room, next_attempt_at=ago(30))  # a retry may still come
    pending_delivery(room, next_attempt_at=ago(600), status=WebhookDelivery.DELIVERED)
    pending_delivery(room, next_attempt_at=ago(600), status=WebhookDelivery.FAILED)

    assert webhooks.sweep(now) == 1

    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": lost.pk}
    assert layer(webhooks.DELIVERY_CHANNEL) is None
    lost.refresh_from_db()
    assert (lost.next_attempt_at, lost.status) == (now, WebhookDelivery.PENDING)
    # Sent once: the next sweeps leave it to its new copy.
    assert webhooks.sweep(now + datetime.timedelta(seconds=5)) == 0


@pytest.mark.django_db
def test_a_swept_delivery_is_then_due_and_delivered():
    with Receiver() as receiver:
        room = hooked_room(receiver.url)
        delivery = pending_delivery(room)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=2, next_attempt_at=timezone.now() - datetime.timedelta(seconds=90)
        )
        assert webhooks.sweep() == 1
        assert webhooks.attempt(delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.DELIVERED, 3)


# Delivering again


@pytest.mark.django_db
def test_redeliver_resets_failed_ones_to_the_rooms_current_url_and_sends_them(layer):
    room = hooked_room("http://127.0.0.1:9/old")
    failed = pending_delivery(
        room, status=WebhookDelivery.FAILED, attempts=5, response_status=500, error="HTTP 500"
    )
    delivered = pending_delivery(room, status=WebhookDelivery.DELIVERED, attempts=1)
    unhooked = Room.objects.create(label="unhooked", name="unhooked")
    orphan = pending_delivery(unhooked, status=WebhookDelivery.FAILED, attempts=5)
    room.webhook_url = "http://127.0.0.1:9/new"
    room.save()

    assert webhooks.redeliver(WebhookDelivery.objects.all()) == 1

    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": failed.pk}
    assert layer(webhooks.DELIVERY_CHANNEL) is None
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.url, failed.error, failed.response_status) == (
        WebhookDelivery.PENDING,
        0,
        "http://127.0.0.1:9/new",
        "",
        None,
    )
    assert WebhookDelivery.objects.get(pk=delivered.pk).status == WebhookDelivery.DELIVERED
    assert WebhookDelivery.objects.get(pk=orphan.pk).status == WebhookDelivery.FAILED


# The admin


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw")


@pytest.mark.django_db
def test_the_admin_shows_a_rooms_secret_read_only(client, admin_user):
    room = hooked_room("http://127.0.0.1:9/hook")
    client.force_login(admin_user)

    page = client.get("/admin/chat/room/%d/change/" % room.pk).content.decode()

    assert room.webhook_secret in page
    assert 'name="webhook_url"' in page
    assert 'name="webhook_secret"' not in page


@pytest.mark.django_db
def test_the_admin_makes_a_new_secret(client, admin_user):
    room = hooked_room("http://127.0.0.1:9/hook")
    old = room.webhook_secret
    client.force_login(admin_user)

    client.post(
        "/admin/chat/room/",
        {"action": "new_webhook_secret", "_selected_action": [room.pk]},
    )

    room.refresh_from_db()
    assert len(room.webhook_secret) == 64
    assert room.webhook_secret != old


@pytest.mark.django_db
def test_the_admins_action_delivers_failed_ones_again(client, admin_user, layer):
    room = hooked_room("http://127.0.0.1:9/hook")
    failed = pending_delivery(room, status=WebhookDelivery.FAILED, attempts=5)
    client.force_login(admin_user)

    listing = client.get("/admin/chat/webhookdelivery/?status__exact=failed")
    client.post(
        "/admin/chat/webhookdelivery/",
        {"action": "deliver_again", "_selected_action": [failed.pk]},
    )

    assert listing.status_code == 200
    assert "http://127.0.0.1:9/hook" in listing.content.decode()
    assert WebhookDelivery.objects.get().status == WebhookDelivery.PENDING
    assert layer(webhooks.DELIVERY_CHANNEL) == {"delivery": failed.pk}


# The room form's empty membership inline (chat/admin.py), as the admin's
# own page posts it.
NO_MEMBERS = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


@pytest.mark.django_db
def test_the_admin_refuses_a_webhook_url_on_the_inside_with_a_clear_error(
    client, admin_user, production
):
    client.force_login(admin_user)

    page = client.post(
        "/admin/chat/room/add/",
        {
            "name": "probe",
            "label": "probe",
            "webhook_url": "https://169.254.169.254/latest/",
            **NO_MEMBERS,
        },
    )

    assert page.status_code == 200  # the form again, with its error
    assert "not on the public internet" in page.content.decode()
    assert not Room.objects.filter(label="probe").exists()


@pytest.mark.django_db
def test_the_admin_refuses_plain_http_under_the_production_rule(client, admin_user, production):
    client.force_login(admin_user)

    page = client.post(
        "/admin/chat/room/add/",
        {
            "name": "plain",
            "label": "plain",
            "webhook_url": "http://hooks.example.com/in",
            **NO_MEMBERS,
        },
    )

    assert page.status_code == 200
    assert "must start with https://" in page.content.decode()
    assert not Room.objects.filter(label="plain").exists()


@pytest.mark.django_db
def test_the_admin_saves_a_public_https_webhook_url(client, admin_user, production, monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.216.34", port))
        ],
    )
    client.force_login(admin_user)

    page = client.post(
        "/admin/chat/room/add/",
        {
            "name": "hooked",
            "label": "hooked",
            "webhook_url": "https://hooks.example.com/in",
            **NO_MEMBERS,
        },
    )

    assert page.status_code == 302
    room = Room.objects.get(label="hooked")
    assert (room.webhook_url, len(room.webhook_secret)) == ("https://hooks.example.com/in", 64)


# Edits and deletes (added 2026-12-05)


@pytest.mark.django_db
def test_an_edit_and_a_delete_are_delivered_as_changes_with_their_event():
    user = User.objects.create_user("ann")
    author = Actor(user=user)
    with Receiver() as receiver:
        room = hooked_room(receiver.url)
        message = services.post_message(room, "ann", "helo", author=author)
        changes.edit(room, author, message.pk, "hello")
        events = list(WebhookDelivery.objects.order_by("pk").values_list("event", flat=True))
        assert events == ["message", "edit"]
        for delivery in WebhookDelivery.objects.order_by("pk"):
            assert webhooks.attempt(delivery.pk) is None
        changes.delete(room, author, message.pk)
        delete = WebhookDelivery.objects.get(event=WebhookDelivery.DELETE)
        assert webhooks.attempt(delete.pk) is None

    bodies = [json.loads(body) for _, body in receiver.requests]
    assert [(b["type"], b["event"]) for b in bodies] == [
        ("message", "message"),
        ("change", "edit"),
        ("change", "delete"),
    ]
    assert bodies[1]["message"]["message"] == "hello"
    assert bodies[1]["message"]["version"] == 2
    assert bodies[2]["message"]["deleted"] is True
    assert bodies[2]["message"]["message"] == ""
    for headers, body in receiver.requests:
        assert signature_ok(room.webhook_secret, headers, body)


@pytest.mark.django_db
def test_a_reaction_is_not_delivered():
    author = Actor(user=User.objects.create_user("ann"))
    with Receiver() as receiver:
        room = hooked_room(receiver.url)
        message = services.post_message(room, "ann", "hello", author=author)
        changes.react(room, author, message.pk, "👍", "ann")
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_a_delivery_made_after_a_delete_carries_the_tombstone_whatever_its_event():
    author = Actor(user=User.objects.create_user("ann"))
    with Receiver() as receiver:
        room = hooked_room(receiver.url)
        message = services.post_message(room, "ann", "oops, a password", author=author)
        changes.delete(room, author, message.pk)
        first = WebhookDelivery.objects.get(event=WebhookDelivery.MESSAGE)
        assert webhooks.attempt(first.pk) is None
    [(_, body)] = receiver.requests
    assert b"password" not in body
    assert json.loads(body)["message"]["deleted"] is True
