"""``/healthz`` on the real split: answered by Daphne, with or without
workers (chat/transport/daphne_health.py)."""

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bench.services import delete_redis_prefix, free_port
from bench.split import Split
from tests.services import wait_for

pytestmark = pytest.mark.integration


def get_health(base_url, timeout=5):
    """``GET /healthz``: the status (int), headers and decoded JSON body."""
    try:
        response = urllib.request.urlopen(base_url + "/healthz", timeout=timeout)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, response.headers, json.loads(response.read())


@pytest.fixture
def web_only(split_env, redis_url):
    """A function starting a web process and no worker, under a channel
    layer prefix of its own, with ``env`` (str values) added; it returns
    the ``Split`` once ``/healthz`` answers. Stopped afterwards."""
    prefix = "asgi-health-%s:" % uuid.uuid4().hex[:8]
    splits = []

    def start(**env):
        split = Split(dict(split_env, CHANNEL_LAYER_PREFIX=prefix, **env))
        splits.append(split)
        split.start_web()

        def answers():
            split.check_alive()
            return get_health(split.base_url)

        wait_for(answers, 60, "/healthz on a web process alone")
        return split

    yield start
    for split in splits:
        split.stop()
    delete_redis_prefix(redis_url, prefix)


def test_healthz_is_200_and_counts_both_workers_of_the_split(split):
    def both_counted():
        status, _, body = get_health(split.base_url)
        return status == 200 and body["workers"] == 2 and (status, body)

    status, body = wait_for(both_counted, 20, "both workers' heartbeats")
    assert body == {"database": "ok", "channel_layer": "ok", "workers": 2}


def test_healthz_answers_503_with_no_worker_within_two_seconds(web_only):
    split = web_only()
    started = time.monotonic()
    status, headers, body = get_health(split.base_url)
    assert time.monotonic() - started < 2
    assert status == 503
    assert body == {"database": "ok", "channel_layer": "ok", "workers": 0}
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"


def test_healthz_names_an_unreachable_database_within_two_seconds(web_only):
    split = web_only(DATABASE_URL="postgres://chat@127.0.0.1:%d/chat" % free_port())
    started = time.monotonic()
    status, _, body = get_health(split.base_url)
    assert time.monotonic() - started < 2
    assert status == 503
    assert body["database"] == "unavailable"
    assert body["channel_layer"] == "ok"
