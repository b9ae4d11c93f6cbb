"""``ChatChannelLayer``, the project's Redis channel layer, in parts.

asgi_redis 1.4.3's ``RedisChannelLayer`` with its delivery paths rewritten
so that one Daphne keeps up with a busy room and no message is dropped
without being counted and logged (docs/channel-layer.md). Each part has one
job:

- ``core``: the class itself; construction, script registration, ``send``
  and ``flush``.
- ``receive``: ``receive`` and ``receive_twisted``, one loop under a
  blocking and a Twisted driver, and the in-process batch buffer.
- ``groups``: Group membership and the one-script-per-shard Group send.
- ``capacities``: the default capacity table, its Lua form, and the warning
  for a consumed channel that no pattern sizes.
- ``statistics``: the parent's counters plus refused Group deliveries.
- ``sentinel``: one shard on the master Redis Sentinel names, followed
  through a failover by both the redis-py and the Twisted clients.
- ``lua_patterns``: ``channel_capacity`` globs as Lua patterns.
- ``scripts``: the Lua scripts, one ``.lua`` file each.
"""

from chat.transport.layer.core import ChatChannelLayer
from chat.transport.layer.lua_patterns import glob_to_lua_pattern

__all__ = ["ChatChannelLayer", "glob_to_lua_pattern"]
