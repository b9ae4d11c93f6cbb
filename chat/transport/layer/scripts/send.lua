-- send.lua: send one message unless the channel is full; count either outcome.
-- Used by ChatChannelLayer.send. Replaces the parent's lua_chansend plus a
-- lua_incrstatcounters round trip, so a send is one round trip, not two.
--
-- KEYS[1]  the channel's list (prefix + non-local channel name)
-- KEYS[2]  the channel's messages_count counter
-- KEYS[3]  the global messages_count counter
-- KEYS[4]  the channel's channel_full_count counter
-- KEYS[5]  the global channel_full_count counter
--
-- ARGV[1]  the entry: "~<expires at, ms since the epoch>|<channel or ''>|<body>",
--          the body inline (docs/channel-layer.md, "Entry formats")
-- ARGV[2]  expiry of the message (seconds); the list gets one second more
-- ARGV[3]  the channel's capacity (messages)
-- ARGV[4]  expiry of the channel's counters (seconds)
-- ARGV[5]  expiry of the global counters (seconds)
--
-- Returns 1 if sent, 0 if the channel was full (nothing stored then).

local function bump(key, ttl)
    redis.call('INCR', key)
    redis.call('EXPIRE', key, ttl)
end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then
    bump(KEYS[4], ARGV[4])
    bump(KEYS[5], ARGV[5])
    return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2] + 1)
bump(KEYS[2], ARGV[4])
bump(KEYS[3], ARGV[5])
return 1
