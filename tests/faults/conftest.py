import uuid

import pytest

from chat.split import Split
from tests import services


@pytest.fixture
def fault_env(split_env):
    """The session's production-like environment, with a throwaway Redis of
    the test's own (so a test may kill it) and the rate limit lifted for the
    steady load."""
    redis_server = services.RedisServer().start()
    env = dict(
        split_env,
        REDIS_URL=redis_server.url,
        CHANNEL_LAYER_PREFIX="asgi-fault-%s:" % uuid.uuid4().hex[:6],
        CHAT_RATE_LIMIT_PER_MINUTE="0",
    )
    env["redis_server"] = redis_server
    yield env
    redis_server.stop()


@pytest.fixture
def fault_split(fault_env):
    """A split of the test's own (one Daphne, two workers), which the test may
    wound; stopped afterwards."""
    env = {k: v for k, v in fault_env.items() if isinstance(v, str)}
    with Split(env) as split:
        split.release()
        split.start(workers=2)
        yield split
