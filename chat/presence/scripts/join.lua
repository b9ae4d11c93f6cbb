-- Add a socket to a room's presence, or renew it: one round trip per connect
-- and per ping. A handle's first socket (and every anonymous socket) is a
-- change, recorded for the room's next coalesced presence frame.
--
-- KEYS[1] sockets:<label>        hash: reply channel -> handle ("" = anonymous)
-- KEYS[2] counts:<label>         hash: handle -> its sockets in the room
-- KEYS[3] changes:<label>        hash: handle -> net change since the last frame
-- KEYS[4] due                    sorted set: label -> when its frame is due (ms)
-- KEYS[5] quiet:<label>          string: no frame is due before this (ms)
-- KEYS[6] daphnes                set: the Daphne response channels seen
-- KEYS[7] daphne-sockets:<d>     set: "<label>\n<reply channel>" held by Daphne d
-- ARGV[1] reply channel, ARGV[2] handle, ARGV[3] label, ARGV[4] now (ms),
-- ARGV[5] expiry of the room's keys (s), ARGV[6] the Daphne's response
-- channel, ARGV[7] "1" to return the roster
-- Returns {added (1 or 0), then handle, count pairs of counts:<label> when
-- asked for the roster}.
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if added == 1 then
    local sockets = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    if ARGV[2] == '' or sockets == 1 then
        redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
        local quiet = tonumber(redis.call('GET', KEYS[5]) or '0')
        redis.call('ZADD', KEYS[4], 'NX', math.max(tonumber(ARGV[4]), quiet), ARGV[3])
    end
    redis.call('SADD', KEYS[6], ARGV[6])
    redis.call('SADD', KEYS[7], ARGV[3] .. '\n' .. ARGV[1])
end
for i = 1, 3 do
    redis.call('EXPIRE', KEYS[i], ARGV[5])
end
redis.call('EXPIRE', KEYS[7], ARGV[5])
local reply = {added}
if ARGV[7] == '1' then
    local counts = redis.call('HGETALL', KEYS[2])
    for i = 1, #counts do
        reply[#reply + 1] = counts[i]
    end
end
return reply
