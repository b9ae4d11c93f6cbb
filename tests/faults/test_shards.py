"""The split past one Redis and one Daphne: the channel layer sharded over
three Redis servers, two Daphne processes and three workers, one room whose
members are spread over both Daphnes; then one shard restarted mid-run
(docs/operations.md, "Scaling out")."""

import time
import uuid

import pytest

from bench.split import Split, running
from tests import services
from tests.faults.harness import ChatLoad

pytestmark = pytest.mark.integration

# Messages accepted before the restart, and after it, for the load to count
# as going on.
STEADY = 20


@pytest.fixture
def shards():
    """Three throwaway Redis servers of the test's own."""
    servers = [services.RedisServer().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def test_a_room_across_two_daphnes_and_three_shards_survives_a_shard_restart(split_env, shards):
    env = dict(
        split_env,
        REDIS_URL=",".join(server.url for server in shards),
        CHANNEL_LAYER_PREFIX="asgi-shards-%s:" % uuid.uuid4().hex[:6],
        CHAT_RATE_LIMIT_PER_MINUTE="0",
    )
    with running(env, workers=3) as split, Split(env) as second:
        second.start_web()
        second.wait_ready()
        # One room, its six members alternating between the two Daphnes.
        load = ChatLoad([split.base_url, second.base_url], rooms=1, members=6, senders=4).start()
        try:
            load.wait_for_accepted(STEADY, timeout=60)
            # Every member receives every message, whichever Daphne it is on.
            load.converge(env["DATABASE_URL"])
            load.sending = True

            # A shard other than the one holding channel sessions and
            # presence (the first) restarts: it loses its share of the Groups.
            shards[1].stop()
            time.sleep(1)
            shards[1].start()
            recovery = load.wait_for_accepted(STEADY, timeout=60)

            report = load.converge(env["DATABASE_URL"])
        finally:
            load.stop()
        split.check_alive()
        second.check_alive()
    assert report["stored"] >= 2 * STEADY
    print("\nshard restarted: %s, %.1f s to %d more accepted" % (report, recovery, STEADY))
