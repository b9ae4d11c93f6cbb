"""Sentinel: the layer on the master that Redis Sentinel names.

With ``sentinels`` and ``sentinel_master`` instead of ``hosts``, the layer
has one shard, the master the sentinels name, and follows a failover in
both of its clients:

- redis-py (``send``, Group sends, ``receive``): the client comes from
  ``Sentinel.master_for`` (with ``chat.transport.sentinel``'s fixed pool),
  whose pool asks the sentinels for the master each
  time it connects and drops its connections when the master has moved.
- txredisapi (``receive_twisted``): the persistent connection is opened on
  the address the sentinels give, asked in the reactor's thread pool, and
  never reconnects by itself; when it fails, ``ReceiveMixin`` closes it,
  waits ``unreachable_wait`` seconds and opens a new one on the master the
  sentinels name then.

Sharding over several Sentinel-monitored masters is refused: one master
carries a chat of this size (docs/channel-layer.md), and sharding would
need one monitored name per shard and a failover per shard.
"""

import redis
import txredisapi
from twisted.internet import error as twisted_error
from twisted.internet import threads

from chat.transport.sentinel import make_sentinel, master_client

# A reply that means the server is no longer the master: it was demoted by a
# failover while this connection stayed open.
DEMOTED_PREFIXES = ("READONLY", "UNBLOCKED")


class SentinelMixin:
    """Sentinel support for ``ChatChannelLayer``. ``_setup_sentinel`` must
    run before the parent's ``__init__``, which calls
    ``_generate_connections``."""

    sentinel = None
    sentinel_master = None

    def _setup_sentinel(self, hosts, sentinels, sentinel_master, connection_kwargs):
        """Keep a ``Sentinel`` for ``sentinels`` (list of ``(host, port)``)
        watching ``sentinel_master`` (str). Returns the ``hosts`` to give the
        parent: ``hosts`` itself without ``sentinels``, else one label (str)
        naming the sentinels and the master, which no client connects to.

        Raises ``ValueError`` for ``hosts`` and ``sentinels`` together, or
        ``sentinels`` without ``sentinel_master``."""
        if not sentinels:
            return hosts
        if hosts:
            raise ValueError("Give the layer hosts or sentinels, not both")
        if not sentinel_master:
            raise ValueError("The layer's sentinels need the name of their master")
        sentinels = [(host, int(port)) for host, port in sentinels]
        self.sentinel = make_sentinel(sentinels, **(connection_kwargs or {}))
        self.sentinel_master = sentinel_master
        addresses = ",".join("%s:%d" % address for address in sentinels)
        return ["sentinel://%s/%s" % (addresses, sentinel_master)]

    def _generate_connections(self, hosts, redis_kwargs):
        """One redis-py client per shard: the parent's from ``hosts``, or the
        one ``Sentinel.master_for`` client on the master."""
        if self.sentinel is None:
            return super()._generate_connections(hosts, redis_kwargs)
        # redis.Redis, like the parent's clients: the same argument orders.
        return [master_client(self.sentinel, self.sentinel_master, redis_class=redis.Redis)]

    def _master_address(self):
        """Ask the sentinels for the master: a Deferred firing with its
        ``(host, port)``, asked in the reactor's thread pool; it fails with
        redis-py's ``MasterNotFoundError`` when no sentinel names one."""
        return threads.deferToThread(self.sentinel.discover_master, self.sentinel_master)

    def _is_master_lost(self, failure):
        """Whether ``failure`` (an exception from opening or using the
        Twisted connection) means the master is gone or has moved."""
        if isinstance(failure, txredisapi.ResponseError):
            return str(failure).startswith(DEMOTED_PREFIXES)
        return isinstance(
            failure,
            (
                txredisapi.ConnectionError,
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                twisted_error.ConnectError,
                twisted_error.ConnectionLost,
            ),
        )
