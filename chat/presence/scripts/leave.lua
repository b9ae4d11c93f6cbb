-- Take a socket out of a room's presence: at its disconnect, or when its
-- Daphne died (prune.lua runs the same steps). A handle's last socket (and
-- every anonymous socket) is a change, recorded for the next frame.
--
-- KEYS[1] sockets:<label>, KEYS[2] counts:<label>, KEYS[3] changes:<label>,
-- KEYS[4] due, KEYS[5] quiet:<label>, KEYS[6] daphne-sockets:<d>
-- (as in join.lua)
-- ARGV[1] reply channel, ARGV[2] label, ARGV[3] now (ms),
-- ARGV[4] expiry of the room's keys (s)
-- Returns 1 if the socket was present, else 0.
local handle = redis.call('HGET', KEYS[1], ARGV[1])
if not handle then
    return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
local sockets = redis.call('HINCRBY', KEYS[2], handle, -1)
if sockets <= 0 then
    redis.call('HDEL', KEYS[2], handle)
end
if handle == '' or sockets <= 0 then
    redis.call('HINCRBY', KEYS[3], handle, -1)
    redis.call('EXPIRE', KEYS[3], ARGV[4])
    local quiet = tonumber(redis.call('GET', KEYS[5]) or '0')
    redis.call('ZADD', KEYS[4], 'NX', math.max(tonumber(ARGV[3]), quiet), ARGV[2])
end
redis.call('SREM', KEYS[6], ARGV[2] .. '\n' .. ARGV[1])
return 1
