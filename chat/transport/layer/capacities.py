"""Capacities: how many messages each channel's Redis list may hold.

Capacities are counted in messages (list entries) per channel and matched
by fnmatch glob on the channel's non-local name, as in asgiref. The user's
``channel_capacity`` entries come first (the first match wins) and
``CapacityMixin.default_channel_capacity`` fills in the patterns they do
not name; the layer's ``capacity`` (100 messages by default, the parent's)
applies to a channel no pattern matches. Why the defaults are what they
are: the comment on the table below, and docs/channel-layer.md.

A channel left at that fallback is usually an oversight (a new consumer
whose traffic outgrows 100 messages in a burst), and a full channel refuses
sends, so each one a process consumes is logged once, when it first reads
from it.
"""

import logging

from chat.transport.layer.lua_patterns import glob_to_lua_pattern

# One logger for the whole layer, named after the package, so that
# docs/operations.md can tell operators which name to watch.
logger = logging.getLogger("chat.transport.layer")


class CapacityMixin:
    """The capacity table of ``ChatChannelLayer``: the defaults merged behind
    the user's ``channel_capacity``, the same table as Lua patterns for
    ``send_group``, and a once-per-channel warning for a consumed channel
    that only the fallback ``capacity`` covers.

    Relies on the parent layer's ``channel_capacity`` (compiled patterns)
    and ``capacity``; ``_setup_capacities`` must run after the parent's
    ``__init__``.
    """

    # Messages per channel, by fnmatch glob on the channel's non-local name,
    # for the patterns the user's channel_capacity does not name. All of one
    # Daphne's sockets share the "daphne.response.<process>!" list, so it must
    # hold a broadcast to every member of the biggest room that Daphne serves
    # (1,000 sockets) many times over: 50 such broadcasts queued at once, about
    # 4 MB of list entries (Redis MEMORY USAGE), drained by one Daphne in seconds (see
    # docs/channel-layer.md), well inside the 60-second message expiry.
    # The other figures are the ones chat/settings.py has used with the stock
    # layer: a few seconds of a busy site's requests and frames.
    default_channel_capacity = {
        "daphne.response*": 50000,
        "http.request": 1000,
        "websocket.connect": 2000,
        "websocket.receive": 2000,
        "websocket.disconnect": 2000,
    }

    def _with_default_capacities(self, channel_capacity):
        """``channel_capacity`` (a dict of glob str or compiled regex to
        messages, or None) as a new dict with ``default_channel_capacity``'s
        patterns that it does not name appended, in match order."""
        capacities = dict(channel_capacity or {})
        for pattern, value in self.default_channel_capacity.items():
            capacities.setdefault(pattern, value)
        return capacities

    def _setup_capacities(self, capacities):
        """Prepare the Lua table from ``capacities`` (the merged dict) and the
        record of channels already checked against it."""
        self._lua_capacities = self._lua_capacity_table(capacities)
        # Every channel name receive has been asked for, checked or not, so
        # that the receive loop's test for a new one is a set lookup.
        self._capacities_checked = set()

    def _lua_capacity_table(self, capacities):
        """The ``channel_capacity`` table as a flat list of Lua pattern and
        capacity (messages) pairs in match order, or None when an entry is a
        compiled regex or a glob ``glob_to_lua_pattern`` cannot translate."""
        table = []
        for pattern, value in capacities.items():
            if hasattr(pattern, "match"):
                return None
            lua_pattern = glob_to_lua_pattern(pattern)
            if lua_pattern is None:
                return None
            table.extend([lua_pattern, int(value)])
        return table

    def _warn_unsized(self, channels):
        """Log at WARNING each of ``channels`` (list of str, as given to
        ``receive``) that is not process-local and that no capacity pattern
        (the user's entries, then the defaults) matches, naming the fallback
        ``capacity`` (messages) and where to set its own. Each name is
        checked once for the life of the layer. Returns None."""
        for channel in channels:
            if channel in self._capacities_checked:
                continue
            self._capacities_checked.add(channel)
            # Left out: each process names its own process-local channel, so
            # the warning would name a new channel in every process and run,
            # and the defaults already size Daphne's; a single-reader
            # channel ("?") is named afresh by its reader every time.
            if "!" in channel or "?" in channel:
                continue
            if any(pattern.match(channel) for pattern, _ in self.channel_capacity):
                continue
            logger.warning(
                "Channel %s is consumed here but matches no capacity pattern, so it holds "
                "at most %s messages (the layer's capacity) before sends to it are refused; "
                "give it a capacity in CHANNEL_CAPACITY in chat/settings.py, beside the "
                "routing",
                channel,
                self.capacity,
            )
