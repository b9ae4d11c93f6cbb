-- Take every socket of a dead Daphne out of presence: its process died, so
-- no disconnect will ever run for them. A Daphne is dead when its heartbeat
-- key (chat/transport/daphne_heartbeat.py) has expired.
--
-- KEYS[1] daphnes, KEYS[2] daphne-sockets:<d>, KEYS[3] the heartbeat of d,
-- KEYS[4] due (as in join.lua)
-- ARGV[1] the Daphne's response channel d, ARGV[2] the presence key prefix,
-- ARGV[3] now (ms), ARGV[4] expiry of room keys (s)
-- Returns the number of sockets taken out (0 when d is alive).
if redis.call('EXISTS', KEYS[3]) == 1 then
    return 0
end
local prefix = ARGV[2]
local entries = redis.call('SMEMBERS', KEYS[2])
local removed = 0
for _, entry in ipairs(entries) do
    local cut = string.find(entry, '\n', 1, true)
    local label = string.sub(entry, 1, cut - 1)
    local reply = string.sub(entry, cut + 1)
    local sockets_key = prefix .. 'sockets:' .. label
    local counts_key = prefix .. 'counts:' .. label
    local changes_key = prefix .. 'changes:' .. label
    local handle = redis.call('HGET', sockets_key, reply)
    if handle then
        removed = removed + 1
        redis.call('HDEL', sockets_key, reply)
        local sockets = redis.call('HINCRBY', counts_key, handle, -1)
        if sockets <= 0 then
            redis.call('HDEL', counts_key, handle)
        end
        if handle == '' or sockets <= 0 then
            redis.call('HINCRBY', changes_key, handle, -1)
            redis.call('EXPIRE', changes_key, ARGV[4])
            local quiet = tonumber(redis.call('GET', prefix .. 'quiet:' .. label) or '0')
            redis.call('ZADD', KEYS[4], 'NX', math.max(tonumber(ARGV[3]), quiet), label)
        end
    end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return removed
