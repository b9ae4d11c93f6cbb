"""No channel fills up unconsumed on the real split."""

import urllib.request

import pytest
import redis

from bench import services
from tests.services import wait_for

pytestmark = pytest.mark.integration


def test_every_channel_daphne_sends_to_is_drained_by_the_workers(split, split_env):
    for _ in range(30):
        with urllib.request.urlopen(split.base_url + "/") as response:
            assert response.status == 200
    client = redis.StrictRedis.from_url(split_env["REDIS_URL"])
    prefix = split_env["CHANNEL_LAYER_PREFIX"]

    def waiting():
        """Messages waiting per shared channel (dict), Daphne's own left out."""
        counts = {}
        for key in client.scan_iter(match=prefix + "*", count=1000):
            if client.type(key) == b"list" and not key.endswith(b"!") and client.llen(key):
                counts[key.decode()] = client.llen(key)
        return counts

    # Daphne sends http.disconnect as each request ends; the workers take it,
    # and every other channel it sends to.
    wait_for(lambda: waiting() == {}, 30, "every shared channel drained")
    assert "http.disconnect" in services.consumed_channels()
