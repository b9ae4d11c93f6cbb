import os
import tempfile
import uuid

import pytest

from bench import split as split_processes
from bench.split import production_env
from tests import services


@pytest.fixture(autouse=True)
def full_rate_limit_buckets():
    """Each test starts with full token buckets (new rooms and uploads per
    address), which live in the in-process cache that outlives a test: the
    Django test client's requests all come from one address."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    from chat import ratelimit

    cache = caches[ratelimit.CACHE_ALIAS]
    if isinstance(cache, LocMemCache):
        cache.clear()


@pytest.fixture(scope="session")
def redis_url():
    """The URL (str) of a real Redis server, started for the session if need be."""
    url, server = services.find_redis()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """The URL (str) of a real PostgreSQL server's maintenance database."""
    url, server = services.find_postgres()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix (str) of the test's own in the real Redis; its keys are
    deleted afterwards."""
    prefix = "test-%s-%s:" % (os.getpid(), uuid.uuid4().hex[:8])
    yield prefix
    services.delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def split_env(redis_url, postgres_url):
    """The environment (dict of str) for a production-like split: a scratch
    PostgreSQL database, its own channel-layer prefix in the real Redis,
    DEBUG off, a random SECRET_KEY and a scratch MEDIA_ROOT. The database
    and the media are dropped and the Redis keys deleted afterwards."""
    tag = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
    prefix = "asgi-test-%s:" % tag
    with (
        services.scratch_database(postgres_url, "chat_test_%s" % tag) as database_url,
        tempfile.TemporaryDirectory(prefix="chat-media-") as media_root,
    ):
        yield production_env(
            database_url,
            redis_url,
            prefix,
            MEDIA_ROOT=media_root,
            # Every browser test signs up from 127.0.0.1, the one address of
            # the session's split: they are not a flood. The limit itself is
            # tested per address (tests/test_signin.py).
            CHAT_SIGNUP_BURST="1000",
            # The same for searches (tested per address in tests/test_search.py).
            CHAT_SEARCH_BURST="1000",
        )
    services.delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def split(split_env):
    """The real split, as the Procfile runs it: migrations, one Daphne,
    two ``runworker`` processes and the delay process (``rundelay``),
    against real Redis and PostgreSQL. Shared by the session's tests,
    which each use rooms of their own."""
    with split_processes.running(split_env, workers=2, delay=True) as running:
        yield running
        running.check_alive()
