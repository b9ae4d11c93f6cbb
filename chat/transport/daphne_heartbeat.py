"""A heartbeat in Redis for each live Daphne process.

Daphne sends ``websocket.disconnect`` when a socket closes, but a Daphne
process that dies (``kill -9``, a lost dyno) sends nothing, and whatever
the workers keep per socket (presence, above all) would outlive it. So
each Daphne renews a key of its own, ``<prefix>daphne-alive:<its response
channel>``, every ``BEAT_SECONDS`` with an expiry of ``ALIVE_SECONDS``; a
key that has expired means its Daphne is gone, and with it every socket
whose reply channel starts with that response channel.

``ensure_started`` is called by the Daphne WebSocket protocol
(``daphne_websocket``) at each connect; the first call writes the key at
once, before the connect reaches a worker, and starts the renewals on the
reactor. Without ``REDIS_URL`` (``runserver``: Daphne and the workers share
one process) there is nothing to do.
"""

import logging

from django.conf import settings
from twisted.internet import task, threads

logger = logging.getLogger(__name__)

# How often a Daphne renews its key, and how long the key lives, in
# seconds: a Daphne is presumed dead 15 to 20 s after its last renewal,
# and a Daphne whose renewals stall for 20 s (an overloaded reactor) only
# has its sockets re-added at their next ping.
BEAT_SECONDS = 5
ALIVE_SECONDS = 20

_started = {}


def heartbeat_key(send_channel):
    """The Redis key (str) of the Daphne whose response channel is
    ``send_channel`` (str, e.g. ``"daphne.response.AbCdEfGhIj!"``)."""
    return settings.CHANNEL_LAYER_PREFIX + "daphne-alive:" + send_channel


def beat(send_channel):
    """Renew the key of ``send_channel``'s Daphne for ``ALIVE_SECONDS``
    seconds. Returns None; raises what redis-py raises when Redis is
    unreachable."""
    from django_redis import get_redis_connection

    get_redis_connection("channel_sessions").set(heartbeat_key(send_channel), "1", ex=ALIVE_SECONDS)


def ensure_started(send_channel):
    """Beat now and every ``BEAT_SECONDS`` from here on, once per process,
    for the Daphne whose response channel is ``send_channel`` (str).
    Returns None. A failed beat is logged and retried on the next tick."""
    if send_channel in _started or not settings.REDIS_URLS:
        return
    try:
        beat(send_channel)
    except Exception:  # noqa: BLE001 - a Redis outage must not refuse sockets
        logger.warning("Could not write the heartbeat of %s", send_channel, exc_info=True)
    loop = task.LoopingCall(_beat_in_thread, send_channel)
    _started[send_channel] = loop
    loop.start(BEAT_SECONDS, now=False)


def _beat_in_thread(send_channel):
    # In a thread: a slow or unreachable Redis must not stall the reactor
    # that serves every socket.
    done = threads.deferToThread(beat, send_channel)
    done.addErrback(
        lambda failure: logger.warning(
            "Could not renew the heartbeat of %s: %s", send_channel, failure.value
        )
    )
    return done
