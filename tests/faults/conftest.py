import uuid

import pytest

from bench.split import running
from tests import services


@pytest.fixture
def fault_redis():
    """A throwaway Redis server of the test's own, which the test may kill."""
    server = services.RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def fault_env(split_env, fault_redis):
    """The session's production-like environment (dict of str), on the test's
    own Redis, with the rate limit lifted for the steady load."""
    return dict(
        split_env,
        REDIS_URL=fault_redis.url,
        CHANNEL_LAYER_PREFIX="asgi-fault-%s:" % uuid.uuid4().hex[:6],
        CHAT_RATE_LIMIT_PER_MINUTE="0",
    )


@pytest.fixture
def fault_split(fault_env):
    """A split of the test's own (one Daphne, two workers), which the test may
    wound; stopped afterwards."""
    with running(fault_env, workers=2) as split:
        yield split
