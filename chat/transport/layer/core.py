"""The project's Redis channel layer: ``ChatChannelLayer``.

It is asgi_redis 1.4.3's ``RedisChannelLayer`` with its delivery paths
rewritten so that one Daphne keeps up with a busy room and no message is
dropped without being counted and logged. docs/channel-layer.md describes the
design: entry formats, Lua scripts, round trips, capacities and statistics.

This module puts the parts together and keeps what belongs to no one part:
construction, script registration, ``send`` and ``flush``.
"""

import logging
import time

from asgi_redis import RedisChannelLayer

from chat.transport.layer import scripts
from chat.transport.layer.capacities import CapacityMixin
from chat.transport.layer.entries import ENTRY_SEPARATOR, INLINE_MARK, inline_entry
from chat.transport.layer.groups import GroupMixin
from chat.transport.layer.receive import ReceiveMixin
from chat.transport.layer.sentinel import SentinelMixin
from chat.transport.layer.statistics import StatisticsMixin

# One logger for the whole layer, named after the package, so that
# docs/operations.md can tell operators which name to watch.
logger = logging.getLogger("chat.transport.layer")


class ChatChannelLayer(
    ReceiveMixin, GroupMixin, CapacityMixin, StatisticsMixin, SentinelMixin, RedisChannelLayer
):
    """asgi_redis's ``RedisChannelLayer`` that receives in one Redis command,
    sends to a Group in one round trip per shard and counts every overflow.

    Takes the parent's arguments (``expiry`` and ``group_expiry`` in seconds,
    ``capacity`` in messages per channel, ``hosts``, ``prefix``,
    ``channel_capacity``, ``symmetric_encryption_keys``, ``stats_prefix``,
    ``connection_kwargs``) plus ``receive_batch_size`` (messages taken per
    round trip from a process-local channel), and ``sentinels`` (list of
    ``(host, port)``) with ``sentinel_master`` (str) in place of ``hosts``:
    one shard, the master Redis Sentinel names (``SentinelMixin``), whose
    ``db`` and ``password`` go in ``connection_kwargs``. ``channel_capacity``
    entries come first and ``default_channel_capacity`` fills in the patterns they do
    not name; ``capacity`` applies to a channel no pattern matches, and each
    such channel a process receives from is logged once at WARNING.

    Raises ``ValueError`` for a ``prefix`` containing ``ENTRY_SEPARATOR`` or
    starting with ``INLINE_MARK``, for
    ``hosts`` and ``sentinels`` together or ``sentinels`` without
    ``sentinel_master``, and whatever the parent raises for bad hosts, keys
    or timeouts.

    What changes from the parent, all in docs/channel-layer.md:

    * Every entry carries its message inline (``entries``), so
      ``receive`` and ``receive_twisted`` are one ``BLMPOP`` (or ``LMPOP``)
      each, taking up to ``receive_batch_size`` messages of a process-local
      channel at once and keeping the extras in-process; Twisted mode
      keeps one connection per shard open instead of one pool per message
      (``ReceiveMixin``). This needs Redis 7.0 or later.
    * ``group_add`` files a member on its own channel's shard, so that
      ``send_group`` is one Lua script per shard, which can carry writes
      that belong with the send (``send_group_with_riders``,
      ``GroupMixin``).
    * ``send`` is one round trip (the parent needs two) and, like
      ``send_group``, counts and logs a full channel (``StatisticsMixin``
      reads the counts back).
    * Capacities default to sizes that fit a 1,000-member room
      (``CapacityMixin``).
    """

    lua_send = scripts.lua_send

    def __init__(
        self,
        expiry=60,
        hosts=None,
        prefix="asgi:",
        group_expiry=86400,
        capacity=100,
        channel_capacity=None,
        symmetric_encryption_keys=None,
        stats_prefix="asgi-meta:",
        connection_kwargs=None,
        receive_batch_size=None,
        sentinels=None,
        sentinel_master=None,
    ):
        if ENTRY_SEPARATOR in prefix:
            raise ValueError("The prefix must not contain %r" % ENTRY_SEPARATOR)
        if prefix.startswith(INLINE_MARK):
            raise ValueError("The prefix must not start with %r" % INLINE_MARK)
        hosts = self._setup_sentinel(hosts, sentinels, sentinel_master, connection_kwargs)
        capacities = self._with_default_capacities(channel_capacity)
        super().__init__(
            expiry=expiry,
            hosts=hosts,
            prefix=prefix,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=capacities,
            symmetric_encryption_keys=symmetric_encryption_keys,
            stats_prefix=stats_prefix,
            connection_kwargs=connection_kwargs,
        )
        self._setup_receiving(receive_batch_size)
        self._setup_capacities(capacities)

    def _register_scripts(self):
        """Register the parent's Lua scripts and this layer's own."""
        super()._register_scripts()
        connection = self.connection(None)
        self.chatsend = connection.register_script(self.lua_send)
        self.chatresolve = connection.register_script(self.lua_resolve)
        self.chatsendgroup = connection.register_script(self.lua_send_group)

    ### ASGI API ###

    def send(self, channel, message):
        """Send ``message`` (dict) to ``channel`` (str) in one round trip.

        Returns None. Raises ``ChannelFull`` when the channel's list already
        holds its capacity (messages); that is counted in the statistics as
        ``channel_full_count`` and logged at WARNING. The entry carries the
        body inline (``chat.transport.layer.entries``), with the full
        channel name of a process-local message, and expires ``expiry``
        seconds from now.
        """
        assert isinstance(message, dict), "message is not a dict"
        assert self.valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        list_name = channel
        named = ""
        if "!" in channel:
            list_name = self.non_local_name(channel)
            named = channel
        if "!" in list_name or "?" in list_name:
            index = self.consistent_hash(list_name)
        else:
            index = next(self._send_index_generator)
        capacity = self.get_capacity(list_name)
        expires_at = int((time.time() + self.expiry) * 1000)
        sent = self.chatsend(
            keys=[
                self.prefix + list_name,
                self._stat_key(list_name, self.STAT_MESSAGES_COUNT),
                self._stat_key(self.global_stats_key, self.STAT_MESSAGES_COUNT),
                self._stat_key(list_name, self.STAT_CHANNEL_FULL),
                self._stat_key(self.global_stats_key, self.STAT_CHANNEL_FULL),
            ],
            args=[
                inline_entry(expires_at, named, self.serialize(message)),
                self.expiry,
                capacity,
                self.channel_statistics_expiry,
                self.global_statistics_expiry,
            ],
            client=self.connection(index),
        )
        if not sent:
            logger.warning(
                "Channel %s is full (%s messages waiting); the message was refused",
                channel,
                capacity,
            )
            raise self.ChannelFull(channel)

    ### Flush extension ###

    def flush(self):
        """Delete every message, Group and statistic under this layer's
        prefixes on every shard, and the messages held in-process."""
        self._buffered.clear()
        super().flush()
