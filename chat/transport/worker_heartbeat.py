"""A heartbeat in Redis for each live worker process.

Workers listen on the channel layer and never on a port, so nothing outside
them can tell that one runs. Each worker process therefore renews a key of
its own, ``<prefix>worker-alive:<hostname>:<pid>``, every ``BEAT_SECONDS``
with an expiry of ``ALIVE_SECONDS``; the live workers are the keys that
exist, counted with a SCAN of ``<prefix>worker-alive:*`` (a handful of keys,
one per worker, so one SCAN pass is cheap). A worker that stops cleanly
deletes its key; one that dies stops counting ``ALIVE_SECONDS`` after its
last renewal at the latest. ``/healthz`` (``daphne_health``) reports the
count.

``ensure_started`` runs on channels' ``worker_ready`` signal and starts one
daemon thread per process (``runworker``, and ``runserver``'s worker
threads, which share theirs). Without ``REDIS_URL`` (``runserver``) there is
nothing to do.
"""

import atexit
import logging
import os
import re
import socket
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# How often a worker renews its key, and how long the key lives, in
# seconds: a worker whose renewals stop is no longer counted 10 to 15 s
# later, and two renewals may fail in a row before a live one drops out.
BEAT_SECONDS = 5
ALIVE_SECONDS = 15
# A Redis that does not answer within this many seconds counts as down.
REDIS_TIMEOUT_SECONDS = 1.5

_lock = threading.Lock()
_started = {}


def key_prefix(prefix=None):
    """The common start (str) of every worker's key, under ``prefix`` (str;
    ``settings.CHANNEL_LAYER_PREFIX`` when None)."""
    if prefix is None:
        prefix = settings.CHANNEL_LAYER_PREFIX
    return prefix + "worker-alive:"


def worker_key(prefix=None, hostname=None, pid=None):
    """The Redis key (str) of one worker process: this one's when
    ``hostname`` (str) and ``pid`` (int) are None."""
    hostname = hostname or socket.gethostname()
    pid = pid or os.getpid()
    return "%s%s:%d" % (key_prefix(prefix), hostname, pid)


def redis_client(url=None):
    """A redis-py client (``redis.StrictRedis``): for ``url`` (str), one
    that gives up after ``REDIS_TIMEOUT_SECONDS``; when None, the channel
    sessions' client (the first ``REDIS_URL``, or the Sentinel master,
    followed through a failover)."""
    if url is None:
        from django_redis import get_redis_connection

        return get_redis_connection("channel_sessions")
    return redis.StrictRedis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def beat(client, key):
    """Renew ``key`` (str) in Redis through ``client`` for ``ALIVE_SECONDS``.
    Returns None; raises what redis-py raises when Redis is unreachable."""
    client.set(key, "1", ex=ALIVE_SECONDS)


def is_alive(key, client=None):
    """Whether the worker process whose key is ``key`` (str, a
    ``worker_key()``) still beats: True or False, or None when it cannot be
    told (no Redis: ``runserver``'s one process). ``client`` is a redis-py
    client (``redis_client()`` when None). Raises what redis-py raises when
    Redis is unreachable."""
    if client is None:
        if not settings.USE_REDIS:
            return None
        client = redis_client()
    return bool(client.exists(key))


def count_workers(client, prefix=None):
    """The number (int) of worker processes whose key under ``prefix``
    (str; the layer's prefix when None) is alive in ``client``'s Redis.
    Raises what redis-py raises when Redis is unreachable."""
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", key_prefix(prefix)) + "*"
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def ensure_started(client=None, key=None):
    """Start this process's heartbeat thread, once per process: it beats
    now and every ``BEAT_SECONDS`` for ``key`` (str; ``worker_key()`` when
    None) through ``client`` (a redis-py client; ``redis_client()`` when
    None), and deletes the key when the process exits. Returns the thread,
    or None without ``REDIS_URL`` and no ``client``. A failed beat is
    logged and retried on the next tick."""
    if client is None:
        if not settings.USE_REDIS:
            return None
        client = redis_client()
    key = key or worker_key()
    with _lock:
        thread = _started.get(key)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(
                target=_beat_forever, args=(client, key), name="worker-heartbeat", daemon=True
            )
            thread.start()
            _started[key] = thread
            atexit.register(_forget, client, key)
        return thread


def _beat_forever(client, key):
    failing = False
    while True:
        try:
            beat(client, key)
            if failing:
                logger.info("The worker heartbeat %s is renewed again", key)
                failing = False
        except Exception:  # noqa: BLE001 - a Redis outage must not end the thread
            if not failing:
                logger.warning("Could not renew the worker heartbeat %s", key, exc_info=True)
                failing = True
        time.sleep(BEAT_SECONDS)


def _forget(client, key):
    # A worker stopped on purpose leaves the count at once rather than
    # ALIVE_SECONDS later.
    try:
        client.delete(key)
    except Exception:  # noqa: BLE001 - exiting anyway
        logger.debug("Could not delete the worker heartbeat %s", key, exc_info=True)
