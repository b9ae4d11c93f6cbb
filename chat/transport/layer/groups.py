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
    # How long a numbered send waits for its predecessor, in seconds: far
    # longer than the moment between storing a message and sending it, and
    # what a message lost with a dead worker delays its successors by.
    sequence_wait_s = 2.0
    # How often a numbered send that waits tries again, in seconds.
    sequence_poll_s = 0.001
    # Where send_group.lua's "send regardless" flag (ARGV[15]) sits in args.
    _FORCE_ARGUMENT = 14

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

    def send_group_with_riders(self, group, message, riders, sequence=None):
        """``send_group``, also running ``riders`` on the first shard (the
        first of ``hosts``, or the Sentinel master) in the same round trip,
        and, with ``sequence``, in the order of a sequence of numbers.

        ``riders`` is a sequence of Redis commands, each a sequence of str,
        bytes or int whose first item is ``SET`` or ``ZADD``: writes that
        belong with the send, such as a channel session saved or a room
        marked as changed (``chat.transport.riders``). They run before the
        members are served, whether or not the Group has members there.

        ``sequence`` is ``(name, number)`` (str, int) or None. Sends that
        name one sequence, to this Group or any other, leave each shard in
        the order of their numbers: one whose predecessor (``number`` − 1)
        has not been sent there yet waits for it, trying again every
        ``sequence_poll_s`` seconds (no round trip while the order is
        kept, one per try while it waits), and after ``sequence_wait_s``
        goes anyway, as when the predecessor was lost with a process that
        died before sending it. A number lower than one already sent goes
        at once. Each shard remembers a sequence for ``group_expiry``
        seconds after its last send; a new or forgotten sequence takes any
        number.

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
        keys = [group_key]
        number = ""
        if sequence is not None:
            name, number = sequence
            keys.append("%s:sequence:%s" % (self.prefix, name))
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
            args = [
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
                number,
                "0",
                self.group_expiry,
                len(known) // 2,
                *known,
                *patterns,
            ]
            reply = self._send_in_turn(keys, args, index, group, number)
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

    def _send_in_turn(self, keys, args, index, group, number):
        """Run send_group.lua on shard ``index`` (int) with ``keys`` and
        ``args``; while it answers that an earlier number of the sequence
        is still to be sent (``{-1}``), wait and try again, and once
        ``sequence_wait_s`` has passed, send regardless (logged at
        WARNING). Returns the script's reply."""
        client = self.connection(index)
        deadline = None
        while True:
            reply = self.chatsendgroup(keys=keys, args=args, client=client)
            if reply[0] != -1:
                return reply
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.sequence_wait_s
            elif now >= deadline:
                logger.warning(
                    "Group %s: number %s of its sequence waited %.1f s for the one before; "
                    "sending it anyway",
                    group,
                    number,
                    self.sequence_wait_s,
                )
                args[self._FORCE_ARGUMENT] = "1"
            time.sleep(self.sequence_poll_s)

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
