"""A full ``websocket.receive`` on the real split: Daphne holds the
socket's frames and pauses its reads instead of closing it, and the frames
reach the workers, in order, once there is room. A full
``websocket.connect`` holds a handshake the same way."""

import os
import threading
import uuid

import pytest
import redis
from django.conf import settings

from bench import split as split_processes
from bench.chat_client import ChatClient, stored_messages, unique_label
from tests import services

pytestmark = pytest.mark.integration

PAUSED_LINE = "Pausing reads from"


HELD_LINE = "Holding the handshake of"


def wait_for(condition, timeout=60, what="the condition"):
    """Poll ``condition()`` until it is true (tests/services.py)."""
    return services.wait_for(condition, timeout, what)


def test_a_socket_whose_frames_meet_a_full_layer_is_slowed_not_closed(split_env, redis_url):
    prefix = "asgi-test-%d-%s:" % (os.getpid(), uuid.uuid4().hex[:6])
    env = dict(split_env, CHANNEL_LAYER_PREFIX=prefix)
    store = redis.Redis.from_url(redis_url)
    receive_list = prefix + "websocket.receive"
    label = unique_label("backpressure")
    try:
        with split_processes.running(env, workers=1) as split:
            ann = ChatClient(split, label)
            ann.send("ann", "before")
            ann.receive_until(lambda f: f.get("message") == "before")

            # No worker, and a websocket.receive at capacity: every frame
            # Daphne offers now is refused as full.
            split.kill(split.workers[0])
            capacity = settings.CHANNEL_CAPACITY["websocket.receive"]
            store.rpush(receive_list, *["filler"] * capacity)
            held = ["held %d" % n for n in range(5)]
            for text in held:
                ann.send("ann", text)
            wait_for(
                lambda: PAUSED_LINE in split.log_of(split.web), what="Daphne to pause the socket"
            )

            store.delete(receive_list)
            split.start_worker()
            split.wait_ready()
            frames = ann.receive_until(lambda f: f.get("message") == held[-1])
            assert [f["message"] for f in frames if f.get("message", "").startswith("held")] == held
            rows = stored_messages(env["DATABASE_URL"], label)
            assert [row[2] for row in rows] == ["before"] + held

            # Still open, and read again: one more line goes round.
            ann.send("ann", "after")
            ann.receive_until(lambda f: f.get("message") == "after")
            log = split.log_of(split.web)
            assert log.count(PAUSED_LINE) == 1
            assert "force closed" not in log
            ann.close()
            split.check_alive()
    finally:
        for key in store.scan_iter(match=prefix + "*"):
            store.delete(key)


def test_a_handshake_that_meets_a_full_connect_channel_waits_and_then_opens(
    split_env, redis_url, redis_prefix
):
    env = dict(split_env, CHANNEL_LAYER_PREFIX=redis_prefix)
    store = redis.Redis.from_url(redis_url)
    label = unique_label("held-handshake")
    with split_processes.Split(env) as split:
        split.release()
        # Room for a worker to start while the handshake waits; Daphne's
        # default of 5 s bounds the wait in production.
        split.start_web("--websocket_connect_timeout 60")
        split.start_worker()
        split.wait_ready()
        split.kill(split.workers[0])
        capacity = settings.CHANNEL_CAPACITY["websocket.connect"]
        store.rpush(redis_prefix + "websocket.connect", *["filler"] * capacity)
        opened = []
        # The handshake waits while a worker boots: give it Daphne's 60 s.
        opening = threading.Thread(
            target=lambda: opened.append(ChatClient(split, label, timeout=60))
        )
        opening.start()
        wait_for(lambda: HELD_LINE in split.log_of(split.web), what="Daphne to hold the handshake")

        store.delete(redis_prefix + "websocket.connect")
        split.start_worker()
        split.wait_ready()
        opening.join(timeout=90)

        assert len(opened) == 1, split.logs()
        ann = opened[0]
        ann.send("ann", "in at last")
        assert ann.receive()["message"] == "in at last"
        ann.close()
        log = split.log_of(split.web)
        assert "force closed" not in log and "Refusing the handshake" not in log
        split.check_alive()
