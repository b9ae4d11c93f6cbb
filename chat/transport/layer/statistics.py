"""Statistics: the parent's counters, plus refused Group deliveries.

The keys keep the parent's layout, ``<stats_prefix><scope>:<name>``, and
the counters the parent keeps (``messages_count``, ``channel_full_count``)
count Group deliveries too, just as the parent's per-member ``send`` did,
so a dashboard built on the stock layer reads the same numbers. The scripts
(send.lua, send_group.lua) do the counting; this part only reads.
"""

import time

from chat.transport.layer.entries import ENTRY_SEPARATOR, parse_entry


class StatisticsMixin:
    """The statistics extension of ``ChatChannelLayer``: the parent's global
    and per-channel statistics with ``group_full_count`` added, and
    ``group_statistics``.

    Relies on the parent layer's ``_connection_list``, ``stats_prefix``,
    ``prefix``, ``expiry`` and ``STAT_*`` names.
    """

    STAT_GROUP_FULL = "group_full_count"
    group_stats_key = "#group#"  # a "#" can be in no channel or group name

    def global_statistics(self):
        """Totals over every shard, as a dict of int: the parent's
        ``messages_count`` (messages sent) and ``channel_full_count`` (sends
        and Group deliveries refused by a full channel), plus
        ``group_full_count`` (the Group deliveries among them). Counters
        expire ``global_statistics_expiry`` seconds after their last change."""
        statistics = super().global_statistics()
        key = self._stat_key(self.global_stats_key, self.STAT_GROUP_FULL)
        statistics[self.STAT_GROUP_FULL] = sum(
            int(connection.get(key) or 0) for connection in self._connection_list
        )
        return statistics

    def group_statistics(self, group):
        """For ``group`` (str), a dict with ``group_full_count``: the member
        deliveries its sends dropped because a channel was full, over every
        shard, within ``global_statistics_expiry`` seconds of the last."""
        key = self._stat_key(self.group_stats_key + group, self.STAT_GROUP_FULL)
        return {
            self.STAT_GROUP_FULL: sum(
                int(connection.get(key) or 0) for connection in self._connection_list
            )
        }

    def _count_channel_stats(self, channel, connections):
        """The parent's per-channel statistics (``messages_count``,
        ``messages_pending``, ``messages_max_age`` in seconds,
        ``channel_full_count``) for ``channel`` (str, a non-local name),
        the age read from the oldest entry (its expiry, or its body key's
        for an entry in a pointer format), plus
        ``group_full_count``, summed over ``connections``."""
        statistics = {
            self.STAT_MESSAGES_COUNT: 0,
            self.STAT_MESSAGES_PENDING: 0,
            self.STAT_MESSAGES_MAX_AGE: 0,
            self.STAT_CHANNEL_FULL: 0,
            self.STAT_GROUP_FULL: 0,
        }
        channel_key = self.prefix + channel
        counters = (self.STAT_MESSAGES_COUNT, self.STAT_CHANNEL_FULL, self.STAT_GROUP_FULL)
        for connection in connections:
            values = connection.mget([self._stat_key(channel, name) for name in counters])
            for name, value in zip(counters, values, strict=True):
                statistics[name] += int(value or 0)
            statistics[self.STAT_MESSAGES_PENDING] += connection.llen(channel_key)
            oldest = connection.lindex(channel_key, 0)
            if oldest:
                inline = parse_entry(oldest)
                if inline is not None:
                    ttl = round(inline[0] / 1000 - time.time())
                else:
                    ttl = connection.ttl(oldest.split(ENTRY_SEPARATOR.encode(), 1)[0])
                if ttl is not None and ttl >= 0:
                    statistics[self.STAT_MESSAGES_MAX_AGE] = max(
                        statistics[self.STAT_MESSAGES_MAX_AGE], self.expiry - ttl
                    )
        return statistics

    def _stat_key(self, scope, stat_name):
        """The Redis key (str) of counter ``stat_name`` for ``scope`` (a
        channel's non-local name, ``global_stats_key`` or a Group's
        ``group_stats_key`` + name), laid out as the parent lays it out."""
        return "%s%s:%s" % (self.stats_prefix, scope, stat_name)
