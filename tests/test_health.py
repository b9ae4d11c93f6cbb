"""``/healthz`` (chat/transport/daphne_health.py) and the worker heartbeat
(chat/transport/worker_heartbeat.py) it counts."""

import json

import pytest
import redis
from daphne import http_protocol
from twisted.internet import defer, error, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python import failure

from chat.transport import daphne_health, worker_heartbeat
from tests.fakes import FakeLayer
from tests.services import wait_for

ALL_FINE = {"database": True, "channel_layer": True, "workers": 2}


# The answer


def test_all_checks_passing_with_a_worker_answer_200():
    assert daphne_health.health_answer(ALL_FINE) == (
        200,
        {"database": "ok", "channel_layer": "ok", "workers": 2},
    )


def test_a_database_that_failed_is_named_unavailable_with_503():
    status, body = daphne_health.health_answer(dict(ALL_FINE, database=None))
    assert status == 503
    assert body == {"database": "unavailable", "channel_layer": "ok", "workers": 2}


def test_a_channel_layer_that_failed_is_named_unavailable_with_503():
    status, body = daphne_health.health_answer(dict(ALL_FINE, channel_layer=None))
    assert status == 503
    assert body["channel_layer"] == "unavailable"


def test_no_live_worker_answers_503_with_zero_workers():
    assert daphne_health.health_answer(dict(ALL_FINE, workers=0)) == (
        503,
        {"database": "ok", "channel_layer": "ok", "workers": 0},
    )


def test_workers_that_could_not_be_counted_count_as_zero():
    assert daphne_health.health_answer(dict(ALL_FINE, workers=None))[1]["workers"] == 0


# Running the checks


def test_checks_that_answer_in_time_give_their_values():
    clock = task.Clock()
    done = daphne_health.run_checks(
        {"database": lambda: True, "workers": lambda: defer.succeed(3)}, 1.5, clock
    )
    assert done.result == {"database": True, "workers": 3}
    assert not clock.getDelayedCalls()


def test_a_check_that_raises_counts_as_failed():
    def broken():
        raise ConnectionError("refused")

    done = daphne_health.run_checks({"database": broken, "workers": lambda: 1}, 1.5, task.Clock())
    assert done.result == {"database": None, "workers": 1}


def test_a_check_that_has_not_answered_by_the_timeout_counts_as_failed():
    clock = task.Clock()
    stuck = defer.Deferred()
    results = []
    done = daphne_health.run_checks(
        {"database": lambda: stuck, "channel_layer": lambda: True, "workers": lambda: 2}, 1.5, clock
    )
    done.addCallback(results.append)
    clock.advance(1.4)
    assert results == []
    clock.advance(0.1)
    assert results == [{"database": None, "channel_layer": True, "workers": 2}]
    assert daphne_health.health_answer(results[0])[0] == 503


def test_checks_answer_within_two_seconds_whatever_happens():
    # With the timeout the request uses (run_checks' default), even checks
    # that never answer give a 503 before two seconds have passed.
    clock = task.Clock()
    results = []
    never = {name: defer.Deferred for name in ("database", "channel_layer", "workers")}
    daphne_health.run_checks(never, clock=clock).addCallback(results.append)
    clock.advance(1.99)
    assert results == [{"database": None, "channel_layer": None, "workers": None}]
    assert daphne_health.health_answer(results[0])[0] == 503


# The request in Daphne


@pytest.fixture
def daphne(monkeypatch):
    """A function feeding a raw HTTP request to Daphne's HTTP protocol with
    ``/healthz`` installed, returning (bytes written, messages sent)."""
    monkeypatch.setattr(http_protocol, "WebRequest", daphne_health.HealthRequest)
    monkeypatch.setattr(
        daphne_health,
        "blocking_checks",
        lambda layer: {
            "database": lambda: True,
            "channel_layer": lambda: True,
            "workers": lambda: 1,
        },
    )

    protocols = []

    def request(raw):
        layer = FakeLayer()
        factory = http_protocol.HTTPFactory(layer, send_channel="daphne.response.test!")
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 80))
        transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8000),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 50000),
        )
        protocol.makeConnection(transport)
        protocols.append(protocol)
        protocol.dataReceived(raw)
        return transport.value(), layer.sent, factory

    yield request
    # The connection's idle timeout is a call on the global reactor: left
    # pending, it would fail a later test that checks the reactor is clean.
    for protocol in protocols:
        protocol.connectionLost(failure.Failure(error.ConnectionDone()))


def test_healthz_is_answered_by_daphne_without_a_message_to_the_workers(daphne):
    written, sent, factory = daphne(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head, _, body = written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Type: application/json" in head
    assert b"Cache-Control: no-store" in head
    assert json.loads(body) == {"database": "ok", "channel_layer": "ok", "workers": 1}
    assert sent == []
    assert factory.reply_protocols == {}


def test_every_other_path_goes_to_the_workers_unchanged(daphne):
    written, sent, _ = daphne(b"GET /healthz/more?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert written == b""
    [(channel, message)] = sent
    assert channel == "http.request"
    assert message["path"] == "/healthz/more"
    assert message["query_string"] == b"x=1"


def test_a_post_to_healthz_goes_to_the_workers(daphne):
    _, sent, _ = daphne(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
    assert [channel for channel, _ in sent] == ["http.request"]


# The worker heartbeat


@pytest.fixture
def client(redis_url):
    return redis.StrictRedis.from_url(redis_url)


def test_a_beat_writes_a_key_that_expires_after_fifteen_seconds(client, redis_prefix):
    key = worker_heartbeat.worker_key(redis_prefix, "host", 42)
    assert key == redis_prefix + "worker-alive:host:42"
    worker_heartbeat.beat(client, key)
    assert 0 < client.ttl(key) <= worker_heartbeat.ALIVE_SECONDS == 15


def test_the_count_is_the_live_keys_under_its_own_prefix_only(client, redis_prefix):
    for pid in (1, 2, 3):
        worker_heartbeat.beat(client, worker_heartbeat.worker_key(redis_prefix, "host", pid))
    other = redis_prefix + "other:"
    worker_heartbeat.beat(client, worker_heartbeat.worker_key(other, "host", 4))
    assert worker_heartbeat.count_workers(client, redis_prefix) == 3
    assert worker_heartbeat.count_workers(client, other) == 1
    assert worker_heartbeat.count_workers(client, redis_prefix + "none:") == 0


def test_glob_characters_in_the_prefix_match_only_themselves(client, redis_prefix):
    worker_heartbeat.beat(client, worker_heartbeat.worker_key(redis_prefix + "a:", "host", 1))
    assert worker_heartbeat.count_workers(client, redis_prefix + "[ab]:") == 0
    assert worker_heartbeat.count_workers(client, redis_prefix + "?:") == 0


def test_the_heartbeat_thread_starts_once_and_keeps_the_key_alive(client, redis_prefix):
    key = worker_heartbeat.worker_key(redis_prefix)
    thread = worker_heartbeat.ensure_started(client, key)
    assert thread.daemon
    assert worker_heartbeat.ensure_started(client, key) is thread
    wait_for(lambda: worker_heartbeat.count_workers(client, redis_prefix) == 1, 5, "the first beat")
    client.delete(key)
    # The next renewal brings it back.
    wait_for(
        lambda: client.exists(key),
        worker_heartbeat.BEAT_SECONDS + 2,
        "the next beat",
    )


def test_a_worker_stopping_cleanly_leaves_the_count_at_once(client, redis_prefix):
    key = worker_heartbeat.worker_key(redis_prefix, "host", 7)
    worker_heartbeat.beat(client, key)
    worker_heartbeat._forget(client, key)
    assert worker_heartbeat.count_workers(client, redis_prefix) == 0


def test_without_redis_no_heartbeat_starts(settings):
    settings.REDIS_URLS = []
    assert worker_heartbeat.ensure_started() is None
    assert daphne_health.count_workers() == 0
