"""Channel sessions expire on their own in Redis instead of piling up."""

import time

import pytest
import redis

from bench.chat_client import ChatClient, unique_label
from chat import conf

pytestmark = pytest.mark.integration


def session_keys(split_env):
    """The Redis client, and the keys of the channel sessions in the
    channel_sessions cache (which also holds rate-limit buckets and guest
    names in use, under keys of their own)."""
    client = redis.StrictRedis.from_url(split_env["REDIS_URL"])
    pattern = split_env["CHANNEL_LAYER_PREFIX"] + "session:*django.contrib.sessions.cache*"
    return client, list(client.scan_iter(match=pattern, count=1000))


def wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_socket_s_channel_session_lives_in_redis_with_an_expiry(split, split_env):
    _, before = session_keys(split_env)
    member = ChatClient(split, unique_label("session"))
    member.send("ann", "hello")
    member.receive()

    client, keys = session_keys(split_env)
    new = [key for key in keys if key not in before]
    assert len(new) == 1
    ttl = client.ttl(new[0])
    assert 0 < ttl <= conf.DEFAULTS["CHAT_CHANNEL_SESSION_SECONDS"]

    member.close()
    # ws_disconnect deletes it; had it not run, the expiry above would.
    assert wait_for(lambda: not client.exists(new[0]))
