-- send_group.lua: send to every member of a Group filed on this shard, the
-- body inline in each member's entry. Used by ChatChannelLayer.send_group,
-- once per shard. It can also run a few writes that belong with the send
-- ("riders": a channel session saved, a room marked as changed), so that
-- they cost no round trip of their own.
--
-- KEYS[1]  the Group's sorted set (members scored by the time added)
-- KEYS[2]  optional: the sequence key of a numbered send, holding the next
--          number this shard expects (see ARGV[14])
--
-- ARGV[1]  the body (serialised message)
-- ARGV[2]  expiry of the message (seconds); lists get one second more
-- ARGV[3]  when the message expires (ms since the epoch); entries are
--          "~<ARGV[3]>|<member channel>|<body>"
-- ARGV[4]  oldest score kept: members added before it are dropped first
-- ARGV[5]  the channel key prefix
-- ARGV[6]  the statistics key prefix
-- ARGV[7]  the global statistics scope
-- ARGV[8]  this Group's statistics scope
-- ARGV[9]  expiry of channel counters (seconds)
-- ARGV[10] expiry of global and Group counters (seconds)
-- ARGV[11] the default capacity (messages), for a list no pattern matches
-- ARGV[12] the most full members to name in the reply
-- ARGV[13] the riders: a MessagePack array of commands, each an array of
--          strings whose first is SET or ZADD; '' for none. They run first,
--          whether or not the Group has members here.
-- ARGV[14] with KEYS[2], this send's number in its sequence; '' without
-- ARGV[15] '1' to send it even if an earlier number has not been sent yet
-- ARGV[16] expiry of the sequence key (seconds)
-- ARGV[17] K, the number of (list name, capacity) pairs that follow
-- then K (list name, capacity) pairs known beforehand; then
-- (Lua pattern, capacity) pairs, the first match giving a list's capacity.
--
-- A numbered send goes only once every earlier number was sent here: if
-- the key expects a smaller number and ARGV[15] is not '1', nothing runs
-- and the reply is {-1}; the caller tries again. Otherwise the key moves
-- past this number (never back), and the send goes on. A missing key (a
-- new sequence, or one expired or lost) takes any number.
--
-- Returns {delivered, full, R, then R rider results (1 when the command
-- wrote, 0 when its condition, XX or NX, kept it from writing), then up to
-- ARGV[12] full member names}, or {-1}.

local riders = {}
if ARGV[13] ~= '' then
    riders = cmsgpack.unpack(ARGV[13])
    for _, command in ipairs(riders) do
        local name = string.upper(command[1])
        if name ~= 'SET' and name ~= 'ZADD' then
            return redis.error_reply('send_group.lua: a rider may only SET or ZADD')
        end
    end
end
if ARGV[14] ~= '' then
    local number = tonumber(ARGV[14])
    local expected = tonumber(redis.call('GET', KEYS[2]) or '')
    if expected and number > expected and ARGV[15] ~= '1' then
        return {-1}
    end
    if not expected or number >= expected then
        redis.call('SET', KEYS[2], number + 1, 'EX', ARGV[16])
    end
end
local results = {}
for _, command in ipairs(riders) do
    local written = redis.call(unpack(command))
    if written == false or written == 0 then
        results[#results + 1] = 0
    else
        results[#results + 1] = 1
    end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[4])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members == 0 then
    local reply = {0, 0, #results}
    for _, written in ipairs(results) do
        reply[#reply + 1] = written
    end
    return reply
end
local expiry = tonumber(ARGV[2])
local head = '~' .. ARGV[3] .. '|'
local tail = '|' .. ARGV[1]
local prefix = ARGV[5]
local stats = ARGV[6]
local capacities = {}
local patterns_from = 18 + 2 * tonumber(ARGV[17])
for i = 18, patterns_from - 1, 2 do
    capacities[ARGV[i]] = tonumber(ARGV[i + 1])
end
local function capacity(name)
    local found = capacities[name]
    if found then
        return found
    end
    found = tonumber(ARGV[11])
    for i = patterns_from, #ARGV, 2 do
        if string.find(name, ARGV[i]) then
            found = tonumber(ARGV[i + 1])
            break
        end
    end
    capacities[name] = found
    return found
end
-- Lengths are read once per list and then tracked here, so a room on
-- one Daphne costs one LLEN, not one per member.
local lists, lengths, sent, full = {}, {}, {}, {}
local delivered, dropped, named = 0, 0, {}
for _, member in ipairs(members) do
    local bang = string.find(member, '!', 1, true)
    local name = member
    if bang then
        name = string.sub(member, 1, bang)
    end
    if lengths[name] == nil then
        lists[#lists + 1] = name
        lengths[name] = redis.call('LLEN', prefix .. name)
        sent[name] = 0
        full[name] = 0
    end
    if lengths[name] >= capacity(name) then
        full[name] = full[name] + 1
        dropped = dropped + 1
        if #named < tonumber(ARGV[12]) then
            named[#named + 1] = member
        end
    else
        redis.call('RPUSH', prefix .. name, head .. member .. tail)
        lengths[name] = lengths[name] + 1
        sent[name] = sent[name] + 1
        delivered = delivered + 1
    end
end
local function bump(scope, stat, by, ttl)
    local key = stats .. scope .. ':' .. stat
    redis.call('INCRBY', key, by)
    redis.call('EXPIRE', key, ttl)
end
for _, name in ipairs(lists) do
    if sent[name] > 0 then
        redis.call('EXPIRE', prefix .. name, expiry + 1)
        bump(name, 'messages_count', sent[name], ARGV[9])
    end
    if full[name] > 0 then
        bump(name, 'channel_full_count', full[name], ARGV[9])
        bump(name, 'group_full_count', full[name], ARGV[9])
    end
end
if delivered > 0 then
    bump(ARGV[7], 'messages_count', delivered, ARGV[10])
end
if dropped > 0 then
    bump(ARGV[7], 'channel_full_count', dropped, ARGV[10])
    bump(ARGV[7], 'group_full_count', dropped, ARGV[10])
    bump(ARGV[8], 'group_full_count', dropped, ARGV[10])
end
local reply = {delivered, dropped, #results}
for _, written in ipairs(results) do
    reply[#reply + 1] = written
end
for _, member in ipairs(named) do
    reply[#reply + 1] = member
end
return reply
