"""Redis Sentinel for the channel layer and the channel sessions.

A deployment with ``REDIS_SENTINELS`` names no Redis server: the sentinels
say which server is the master, and say another after a failover. redis-py's
``Sentinel.master_for`` gives a client whose pool asks them again each time
it connects, and drops its connections when the master has moved, so a
process follows a failover without restarting. ``make_sentinel`` builds the
one the channel layer uses and ``master_client`` its client;
``SentinelClient`` gives django-redis (which has no Sentinel support of its
own) such a client for the ``channel_sessions`` cache, that channel sessions
and presence read through ``get_redis_connection("channel_sessions")``.
"""

import redis
from django_redis.client import DefaultClient
from redis.sentinel import Sentinel, SentinelConnectionPool

# Seconds a sentinel may take to answer or to accept a connection before the
# next one is asked: a dead sentinel host must not hold up a failover.
SENTINEL_TIMEOUT_SECONDS = 1.0


def make_sentinel(sentinels, **connection_kwargs):
    """A redis-py ``Sentinel`` asking ``sentinels`` (list of ``(host, port)``)
    with a short timeout each; ``connection_kwargs`` (``db``, ``password``,
    socket options) are for the master's connections."""
    return Sentinel(
        sentinels,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        },
        **connection_kwargs,
    )


class MasterConnectionPool(SentinelConnectionPool):
    """redis-py 2.10.6's master pool, fixed for a second failover and for
    threads.

    Its own ``get_master_address`` never records a new master, so after a
    failover every new connection closed all the others again, including
    ones another thread was reading from (``ValueError: I/O operation on
    closed file`` in a worker's BLPOP). This one records the new master and
    closes only the idle connections; one in use on the old master fails on
    its own, and redis-py reconnects it here."""

    def get_master_address(self):
        """The master's ``(host, port)`` as the sentinels name it now.
        Raises ``MasterNotFoundError`` when none does."""
        address = self.sentinel_manager.discover_master(self.service_name)
        if address != self.master_address:
            previous, self.master_address = self.master_address, address
            if previous is not None:
                for connection in list(self._available_connections):
                    connection.disconnect()
        return address


def master_client(sentinel, name, redis_class=redis.StrictRedis):
    """A ``redis_class`` client on the master ``sentinel`` (a ``Sentinel``)
    names ``name`` (str), through a ``MasterConnectionPool``."""
    return sentinel.master_for(
        name, redis_class=redis_class, connection_pool_class=MasterConnectionPool
    )


class SentinelClient(DefaultClient):
    """django-redis's default client on the master that Sentinel names.

    The cache's ``LOCATION`` is the master's name (one entry, str) and its
    ``OPTIONS`` hold ``SENTINELS`` (list of ``(host, port)``), and ``DB``
    (int) and ``PASSWORD`` (str or None) for the master. Every read and write
    goes to the master: a replica could answer with a channel session that
    is a frame behind.
    """

    def connect(self, index=0):
        """A ``redis.StrictRedis`` on the master named by ``LOCATION``, which
        rediscovers the master whenever it reconnects."""
        options = self._options
        sentinel = make_sentinel(
            [tuple(address) for address in options["SENTINELS"]],
            db=options.get("DB", 0),
            password=options.get("PASSWORD"),
        )
        return master_client(sentinel, self._server[index])
