-- Claim a room whose presence frame is due, and take its changes: the one
-- worker whose claim succeeds sends the frame, so each change goes out once.
--
-- KEYS[1] due, KEYS[2] changes:<label>, KEYS[3] counts:<label>,
-- KEYS[4] flushed:<label> (as in join.lua)
-- ARGV[1] label, ARGV[2] now (ms), ARGV[3] window (ms)
-- Returns false when the room is not due (or another worker claimed it),
-- else {changes as handle, delta pairs, counts as handle, sockets pairs}.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then
    return false
end
redis.call('ZREM', KEYS[1], ARGV[1])
local changes = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[4], ARGV[2], 'PX', 2 * tonumber(ARGV[3]))
return {changes, redis.call('HGETALL', KEYS[3])}
