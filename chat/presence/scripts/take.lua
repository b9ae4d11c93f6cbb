-- Claim a room whose presence frame is due, and take its changes: the one
-- worker whose claim succeeds sends the frame, so each change goes out once.
-- It also sets when the room's next frame may be due: a window after this
-- one, longer for a bigger room, so that one room's presence frames cost
-- at most a bounded number of deliveries a second however large it grows.
--
-- KEYS[1] due, KEYS[2] changes:<label>, KEYS[3] counts:<label>,
-- KEYS[4] quiet:<label>, KEYS[5] sockets:<label> (as in join.lua)
-- ARGV[1] label, ARGV[2] now (ms), ARGV[3] least window between two frames
-- (ms), ARGV[4] window per socket in the room (ms)
-- Returns false when the room is not due (or another worker claimed it),
-- else {changes as handle, delta pairs, counts as handle, sockets pairs}.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then
    return false
end
redis.call('ZREM', KEYS[1], ARGV[1])
local changes = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
local window = math.max(tonumber(ARGV[3]), redis.call('HLEN', KEYS[5]) * tonumber(ARGV[4]))
redis.call('SET', KEYS[4], tonumber(ARGV[2]) + window, 'PX', window + 1000)
return {changes, redis.call('HGETALL', KEYS[3])}
