"""A heartbeat in Redis for each live Daphne process.

Daphne sends ``websocket.disconnect`` when a socket closes, but a Daphne
process that dies (``kill -9``, a lost dyno) sends nothing, and whatever
the workers keep per socket (presence, above all) would outlive it. So
each Daphne renews a key of its own, ``<prefix>daphne-alive:<its response
channel>``, every ``BEAT_SECONDS`` with an expiry of ``ALIVE_SECONDS``; a
key that has expired means its Daphne is gone, and with it every socket
whose reply channel starts with that response channel.

The same beat tells a Daphne when the channel layer has lost its state:
a Redis restart, or a failover to a replica that lacks the latest writes,
empties the Groups, and a socket whose membership is gone stays open and
hears nothing more (Daphne issue #147), which a client that only listens
never notices. So each beat also keeps a marker,
``<prefix>daphne-epoch:<response channel>``, on the layer shard that holds
this Daphne's Group memberships (``ChatChannelLayer.member_connection``).
The marker is written once at start; a beat that finds it missing means
that shard lost what this Daphne's sockets had filed there, and the Daphne
closes every open WebSocket with 1012 ("service restart"), so that each
client reconnects, rejoins, and catches up from PostgreSQL. A beat comes
every ``BEAT_SECONDS``, so that happens within 5 s of Redis answering
again, inside the 10 s that docs/operations.md promises.

``ensure_started`` is called by the Daphne WebSocket protocol
(``daphne_websocket``) at each connect; the first call writes the keys at
once, before the connect reaches a worker, and starts the renewals on the
reactor. Without ``REDIS_URL`` (``runserver``: Daphne and the workers share
one process) there is nothing to do.
"""

import logging

from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import task, threads

logger = logging.getLogger(__name__)

# How often a Daphne renews its key, and how long the key lives, in
# seconds: a Daphne is presumed dead 15 to 20 s after its last renewal,
# and a Daphne whose renewals stall for 20 s (an overloaded reactor) only
# has its sockets re-added at their next ping.
BEAT_SECONDS = 5
ALIVE_SECONDS = 20
# How long an epoch marker outlives its Daphne's last beat, in seconds: only
# so that a dead Daphne's marker does not stay for ever.
EPOCH_SECONDS = 86400
# The close code for sockets whose layer state was lost: RFC 6455 §7.4.1's
# 1012 "service restart" (IANA registry), which tells a client to reconnect.
LAYER_LOST_CLOSE_CODE = 1012

_started = {}


def heartbeat_key(send_channel):
    """The Redis key (str) of the Daphne whose response channel is
    ``send_channel`` (str, e.g. ``"daphne.response.AbCdEfGhIj!"``)."""
    return settings.CHANNEL_LAYER_PREFIX + "daphne-alive:" + send_channel


def epoch_key(send_channel):
    """The Redis key (str) of the layer-state marker of the Daphne whose
    response channel is ``send_channel`` (str)."""
    return settings.CHANNEL_LAYER_PREFIX + "daphne-epoch:" + send_channel


def beat(send_channel, layer=None):
    """Renew the key of ``send_channel``'s Daphne for ``ALIVE_SECONDS``
    seconds and, when ``layer`` is a layer with ``member_connection`` (the
    project's), its epoch marker. Returns True when the marker had to be
    written anew (the layer shard has no memory of this Daphne), else
    False. Raises what redis-py raises when Redis is unreachable."""
    from django_redis import get_redis_connection

    get_redis_connection("channel_sessions").set(heartbeat_key(send_channel), "1", ex=ALIVE_SECONDS)
    if not hasattr(layer, "member_connection"):
        return False
    pipeline = layer.member_connection(send_channel).pipeline(transaction=False)
    pipeline.set(epoch_key(send_channel), "1", nx=True, ex=EPOCH_SECONDS)
    pipeline.expire(epoch_key(send_channel), EPOCH_SECONDS)
    created, _ = pipeline.execute()
    return bool(created)


def forget_every_epoch(layer):
    """Delete the epoch marker of every Daphne on every shard of ``layer``
    (a layer with ``ring_size`` and ``connection(index)``, the project's),
    so that each live Daphne's next beat, within ``BEAT_SECONDS``, finds it
    gone and closes all its sockets with 1012, as after a Redis restart.
    For a deploy that leaves Daphne running and must move sockets that send
    nothing (docs/operations.md, "Deploying a new Group naming"). Returns
    how many markers were deleted (int); raises what redis-py raises."""
    pattern = epoch_key("*")
    deleted = 0
    for index in range(layer.ring_size):
        connection = layer.connection(index)
        keys = list(connection.scan_iter(match=pattern, count=1000))
        if keys:
            deleted += connection.delete(*keys)
    return deleted


class Heartbeat:
    """The beat of one Daphne process, whose server ``factory`` (Daphne's
    ``HTTPFactory``: ``send_channel``, ``channel_layer`` and the open
    protocols in ``reply_protocols``) it watches over."""

    def __init__(self, factory):
        self.factory = factory
        self.send_channel = factory.send_channel
        self.layer = getattr(factory.channel_layer, "channel_layer", factory.channel_layer)
        self.loop = task.LoopingCall(self._beat_in_thread)

    def start(self):
        """Beat now (blocking, once: before the first connect goes on), then
        every ``BEAT_SECONDS`` off the reactor. Returns None; a failed beat
        is logged and tried again at the next."""
        try:
            beat(self.send_channel, self.layer)
        except Exception:  # noqa: BLE001 - a Redis outage must not refuse sockets
            logger.warning("Could not write the heartbeat of %s", self.send_channel, exc_info=True)
        self.loop.start(BEAT_SECONDS, now=False)

    def _beat_in_thread(self):
        # In a thread: a slow or unreachable Redis must not stall the reactor
        # that serves every socket. The answer comes back on the reactor.
        done = threads.deferToThread(beat, self.send_channel, self.layer)
        done.addCallbacks(self._after_beat, self._beat_failed)
        return done

    def _after_beat(self, lost):
        if lost:
            self.close_all(LAYER_LOST_CLOSE_CODE)

    def _beat_failed(self, failure):
        logger.warning("Could not renew the heartbeat of %s: %s", self.send_channel, failure.value)

    def close_all(self, code):
        """Close every open WebSocket of this Daphne with ``code`` (int).
        Returns how many were closed (int)."""
        sockets = [
            protocol
            for protocol in list(self.factory.reply_protocols.values())
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
        ]
        logger.warning(
            "The channel layer lost the state of %s (a Redis restart or failover); "
            "closing its %d sockets with %d so that their clients rejoin and catch up",
            self.send_channel,
            len(sockets),
            code,
        )
        for protocol in sockets:
            # autobahn's sendClose (which Daphne's serverClose calls) lets an
            # application close with 1000 or 3000-4999 only; the frame
            # itself may carry any registered code, and 1012 is one.
            protocol.sendCloseFrame(code=code, isReply=False)
        return len(sockets)


def ensure_started(factory):
    """Start the beat of the Daphne whose server is ``factory`` (Daphne's
    ``HTTPFactory``), once per process. Returns None."""
    if factory.send_channel in _started or not settings.USE_REDIS:
        return
    heartbeat = Heartbeat(factory)
    _started[factory.send_channel] = heartbeat
    heartbeat.start()
