"""Groups: membership filed by shard, and a Group send in one script per shard.

The parent filed every member on the Group's own shard and sent to a Group
with one ``send`` per member, two round trips each, swallowing
``ChannelFull``. Here a member is filed on the shard of its own channel's
list, so each shard's sorted set holds exactly the members whose messages
go to that shard, and send_group.lua can deliver to all of them, each
entry holding the body, in one round trip per shard; a refused member is
counted and logged. Writes that belong with a send can ride along in that
round trip (``send_group_with_riders``). docs/channel-layer.md gives the
entry formats and round trips.
"""

import logging
import time

import msgpack

from chat.transport.layer import scripts

# One logger for the whole layer, named after the package, so that
# docs/operations.md can tell operators which name to watch.
logger = logging.getLogger("chat.transport.layer")


class GroupMixin:
    """The Group extension of ``ChatChannelLayer``: ``group_add``,
    ``group_discard``, ``group_channels`` and ``send_group``.

    Relies on the parent layer's ``connection``, ``consistent_hash``,
    ``ring_size``, ``_group_key``, ``serialize`` and settings,
    ``chatsendgroup`` (send_group.lua, registered by the combining class),
    ``_lua_capacities`` and ``get_capacity`` (``CapacityMixin`` and the
    parent) and the statistics names of ``StatisticsMixin``.
    """

    lua_send_group = scripts.lua_send_group

    # Most members named in a full-channel warning; the count is always whole.
    warn_members_shown = 10

    def group_add(self, group, channel):
        """Add ``channel`` (str) to ``group`` (str) for ``group_expiry``
        seconds, in one round trip to the shard of the channel's own list.

        Returns None. Raises ``TypeError`` for an invalid name.
        """
        assert self.valid_group_name(group), "Group name not valid"
        assert self.valid_channel_name(channel), "Channel name not valid"
        group_key = self._group_key(group)
        pipeline = self.connection(self._member_index(channel)).pipeline(transaction=False)
        # The score is the time added, as in the parent, so that members not
        # re-added within group_expiry are dropped by the next send.
        pipeline.zadd(group_key, **{channel: time.time()})
        pipeline.expire(group_key, self.group_expiry)
        pipeline.execute()

    def group_discard(self, group, channel):
        """Remove ``channel`` (str) from ``group`` (str) if it is a member,
        in one round trip. Returns None; a non-member is no error."""
        assert self.valid_group_name(group), "Group name not valid"
        assert self.valid_channel_name(channel), "Channel name not valid"
        self.connection(self._member_index(channel)).zrem(self._group_key(group), channel)

    def group_channels(self, group):
        """The members of ``group`` (str) as a list of str, gathered from
        every shard (one round trip each), members older than
        ``group_expiry`` seconds dropped first."""
        members = []
        for index in range(self.ring_size):
            members.extend(self._shard_members(index, group))
        return list(dict.fromkeys(members))

    def send_group(self, group, message):
        """Send ``message`` (dict) to every member of ``group`` (str).

        One Lua script per shard: it drops expired members and pushes an
        entry holding the body to each member whose channel is below its
        capacity. Members whose channel is full are skipped, counted
        (``channel_full_count`` and ``group_full_count``) and logged at
        WARNING; the others get the message. Returns None and, as the ASGI
        spec asks, never raises ``ChannelFull``. When the capacity table
        cannot be evaluated in Lua, it costs one more round trip per shard
        (see ``_lua_capacity_table``).
        """
        self.send_group_with_riders(group, message, ())

    def send_group_with_riders(self, group, message, riders):
        """``send_group``, also running ``riders`` on the first shard (the
        first of ``hosts``, or the Sentinel master) in the same round trip.

        ``riders`` is a sequence of Redis commands, each a sequence of str,
        bytes or int whose first item is ``SET`` or ``ZADD``: writes that
        belong with the send, such as a channel session saved or a room
        marked as changed (``chat.transport.riders``). They run before the
        members are served, whether or not the Group has members there.
        Returns a list of int, one per rider: 1 when it wrote, 0 when its
        own condition (``XX``, ``NX``) kept it from writing. Raises
        redis-py's ``ResponseError`` for any other command, before anything
        is sent.
        """
        assert self.valid_group_name(group), "Group name not valid"
        assert isinstance(message, dict), "message is not a dict"
        assert "__asgi_channel__" not in message
        body = self.serialize(message)
        packed_riders = msgpack.packb([list(command) for command in riders]) if riders else ""
        group_key = self._group_key(group)
        now = time.time()
        cutoff = int(now) - self.group_expiry
        expires_at = int((now + self.expiry) * 1000)
        delivered, full, full_members, written = 0, 0, [], []
        for index in range(self.ring_size):
            if self._lua_capacities is None:
                names = {self.non_local_name(m) for m in self._shard_members(index, group)}
                known = [item for name in names for item in (name, self.get_capacity(name))]
                patterns = []
            else:
                known, patterns = [], self._lua_capacities
            reply = self.chatsendgroup(
                keys=[group_key],
                args=[
                    body,
                    self.expiry,
                    expires_at,
                    cutoff,
                    self.prefix,
                    self.stats_prefix,
                    self.global_stats_key,
                    self.group_stats_key + group,
                    self.channel_statistics_expiry,
                    self.global_statistics_expiry,
                    self.capacity,
                    self.warn_members_shown,
                    packed_riders if index == 0 else "",
                    len(known) // 2,
                    *known,
                    *patterns,
                ],
                client=self.connection(index),
            )
            delivered += reply[0]
            full += reply[1]
            ridden = reply[2]
            written.extend(int(result) for result in reply[3 : 3 + ridden])
            full_members.extend(name.decode("utf8") for name in reply[3 + ridden :])
        if full:
            logger.warning(
                "Group %s: %s of %s members' channels were full; the message was not "
                "delivered to them (among them: %s)",
                group,
                full,
                delivered + full,
                ", ".join(full_members[: self.warn_members_shown]),
            )
        return written

    def member_connection(self, channel):
        """The redis-py client (``redis.StrictRedis``) of the shard that
        holds ``channel``'s (str) Group memberships and messages: where a
        Daphne can tell whether the layer still holds its state."""
        return self.connection(self._member_index(channel))

    def _member_index(self, channel):
        """The shard index (int) of the list that ``channel`` (str) is read
        from: consistent for every channel, so a Group member is filed where
        its messages go."""
        return self.consistent_hash(self.non_local_name(channel))

    def _shard_members(self, index, group):
        """The members (list of str) of ``group`` on shard ``index``, in one
        round trip that first drops members older than ``group_expiry``."""
        key = self._group_key(group)
        pipeline = self.connection(index).pipeline(transaction=False)
        pipeline.zremrangebyscore(key, 0, int(time.time()) - self.group_expiry)
        pipeline.zrange(key, 0, -1)
        return [member.decode("utf8") for member in pipeline.execute()[1]]
