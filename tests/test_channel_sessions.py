"""chat.transport.channel_sessions, the channel session store, against a real Redis through
django-redis, and through channels' ``channel_session``."""

import json
import os
import pickle
import uuid
from unittest import mock

import pytest
import redis
from channels.message import Message as ChannelMessage
from channels.sessions import channel_session, session_for_reply_channel
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import caches
from django.test import override_settings

from chat.ratelimit import bucket_key, take_cached_token
from chat.transport.channel_sessions import SessionStore, is_unreadable

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_sessions(redis_url, redis_prefix):
    """The ``channel_sessions`` cache on the real Redis, under the test's own
    prefix; yields a raw redis-py client to look at the keys."""
    cache = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": redis_url,
        "KEY_PREFIX": redis_prefix + "session",
        "OPTIONS": {"SERIALIZER": settings.CACHE_SERIALIZER},
    }
    with override_settings(
        CACHES={"default": cache, "channel_sessions": cache},
        SESSION_CACHE_ALIAS="channel_sessions",
        CHANNEL_SESSION_ENGINE="chat.transport.channel_sessions",
    ):
        yield redis.StrictRedis.from_url(redis_url)


def new_socket():
    return "daphne.response.test!%s" % uuid.uuid4().hex


def stored_session(socket):
    """A store of ``socket``'s session holding ``{"room": 1}``, saved."""
    session = session_for_reply_channel(socket)
    session.save(must_create=True)
    session["room"] = 1
    session.save()
    return session


def test_a_loaded_session_answers_exists_without_asking_redis(redis_sessions):
    socket = new_socket()
    stored_session(socket)

    session = session_for_reply_channel(socket)
    with mock.patch.object(caches["channel_sessions"], "has_key", side_effect=AssertionError):
        assert session.exists(session.session_key)
    assert session["room"] == 1


def test_a_missing_session_is_looked_up(redis_sessions):
    session = session_for_reply_channel(new_socket())
    assert not session.exists(session.session_key)


def test_a_save_is_one_write_and_clears_modified(redis_sessions):
    socket = new_socket()
    session = stored_session(socket)
    session["room"] = 2
    cache = caches["channel_sessions"]
    with mock.patch.object(cache, "get", side_effect=AssertionError):
        session.save()

    assert not session.modified
    assert session_for_reply_channel(socket)["room"] == 2
    assert (
        0
        < redis_sessions.pttl(cache.make_key(session.cache_key))
        <= 1000 * session.get_expiry_age()
    )


def test_saving_a_session_deleted_meanwhile_raises_and_does_not_bring_it_back(redis_sessions):
    socket = new_socket()
    session = stored_session(socket)
    session_for_reply_channel(socket).flush()

    session["room"] = 3
    with pytest.raises(UpdateError):
        session.save()
    assert not session_for_reply_channel(socket).exists(session.session_key)


def test_channel_session_keeps_state_between_messages(redis_sessions):
    socket = new_socket()

    @channel_session
    def consumer(message):
        message.channel_session["count"] = message.channel_session.get("count", 0) + 1
        return message.channel_session["count"]

    counts = [
        consumer(ChannelMessage({"reply_channel": socket}, "websocket.receive", None))
        for _ in range(3)
    ]
    assert counts == [1, 2, 3]
    assert isinstance(session_for_reply_channel(socket), SessionStore)


class Planted:
    """A pickle that, unpickled, creates the directory at ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def plant(redis_sessions, socket, value):
    """Write ``value`` (bytes) as ``socket``'s session, behind the cache's
    back, as anyone with write access to Redis could; returns the session
    as a worker would then load it."""
    key = caches["channel_sessions"].make_key(session_for_reply_channel(socket).cache_key)
    redis_sessions.set(key, value, ex=60)
    return session_for_reply_channel(socket)


def test_a_session_is_stored_as_json(redis_sessions):
    socket = new_socket()
    session = stored_session(socket)
    raw = redis_sessions.get(caches["channel_sessions"].make_key(session.cache_key))
    assert json.loads(raw)["room"] == 1


def test_a_planted_pickle_is_never_run_and_reads_as_an_unreadable_empty_session(
    redis_sessions, tmp_path
):
    target = tmp_path / "ran"
    socket = new_socket()
    session = plant(redis_sessions, socket, pickle.dumps(Planted(str(target))))

    assert dict(session.items()) == {}
    assert is_unreadable(session)
    assert not target.exists()
    # The key stays the socket's: a save overwrites the pickle with JSON.
    assert session.exists(session.session_key)
    session["room"] = 2
    session.save()
    assert not is_unreadable(session_for_reply_channel(socket))
    assert session_for_reply_channel(socket)["room"] == 2


def test_a_planted_pickle_reaches_no_consumer_as_data(redis_sessions, tmp_path):
    target = tmp_path / "ran"
    socket = new_socket()
    plant(redis_sessions, socket, pickle.dumps(Planted(str(target))))

    @channel_session
    def consumer(message):
        return dict(message.channel_session), is_unreadable(message.channel_session)

    message = ChannelMessage({"reply_channel": socket}, "websocket.receive", None)
    assert consumer(message) == ({}, True)
    assert not target.exists()


@pytest.mark.parametrize("value", [b"[1, 2]", b"7", b'"room"', b"\xff\xfe"])
def test_json_that_is_not_an_object_is_unreadable_too(redis_sessions, value):
    session = plant(redis_sessions, new_socket(), value)
    assert dict(session.items()) == {}
    assert is_unreadable(session)


def test_a_session_holds_lists_where_it_was_given_tuples(redis_sessions):
    socket = new_socket()
    session = stored_session(socket)
    session["rate"] = (3.5, 1700000000.25)
    session.save()
    assert session_for_reply_channel(socket)["rate"] == [3.5, 1700000000.25]


def test_a_rate_limit_bucket_planted_as_a_pickle_is_never_run_and_counts_as_full(
    redis_sessions, tmp_path
):
    target = tmp_path / "ran"
    key = bucket_key("upload", "address", "10.0.0.1")
    cache = caches["channel_sessions"]
    redis_sessions.set(cache.make_key(key), pickle.dumps(Planted(str(target))), ex=60)

    assert take_cached_token(key, burst=2, per_minute=1, now=1000.0) is None
    assert not target.exists()
    assert cache.get(key) == [1.0, 1000.0]
