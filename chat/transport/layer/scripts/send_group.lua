-- send_group.lua: send to every member of a Group filed on this shard,
-- storing the body once. Used by ChatChannelLayer.send_group, once per shard.
--
-- KEYS[1]  the Group's sorted set (members scored by the time added)
-- KEYS[2]  a fresh body key; entries are "<body key>|<member channel>"
--
-- ARGV[1]  the body (serialised message)
-- ARGV[2]  expiry of the body (seconds); lists get one second more
-- ARGV[3]  oldest score kept: members added before it are dropped first
-- ARGV[4]  the channel key prefix
-- ARGV[5]  the statistics key prefix
-- ARGV[6]  the global statistics scope
-- ARGV[7]  this Group's statistics scope
-- ARGV[8]  expiry of channel counters (seconds)
-- ARGV[9]  expiry of global and Group counters (seconds)
-- ARGV[10] the default capacity (messages), for a list no pattern matches
-- ARGV[11] the most full members to name in the reply
-- ARGV[12] K, the number of (list name, capacity) pairs that follow
-- then K (list name, capacity) pairs known beforehand; then
-- (Lua pattern, capacity) pairs, the first match giving a list's capacity.
--
-- Returns {delivered, full, then up to ARGV[11] full member names}.

redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members == 0 then
    return {0, 0}
end
local expiry = tonumber(ARGV[2])
local prefix = ARGV[4]
local stats = ARGV[5]
local capacities = {}
local patterns_from = 13 + 2 * tonumber(ARGV[12])
for i = 13, patterns_from - 1, 2 do
    capacities[ARGV[i]] = tonumber(ARGV[i + 1])
end
local function capacity(name)
    local found = capacities[name]
    if found then
        return found
    end
    found = tonumber(ARGV[10])
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
        if #named < tonumber(ARGV[11]) then
            named[#named + 1] = member
        end
    else
        redis.call('RPUSH', prefix .. name, KEYS[2] .. '|' .. member)
        lengths[name] = lengths[name] + 1
        sent[name] = sent[name] + 1
        delivered = delivered + 1
    end
end
if delivered > 0 then
    redis.call('HSET', KEYS[2], 'b', ARGV[1], 'n', delivered)
    redis.call('EXPIRE', KEYS[2], expiry)
end
local function bump(scope, stat, by, ttl)
    local key = stats .. scope .. ':' .. stat
    redis.call('INCRBY', key, by)
    redis.call('EXPIRE', key, ttl)
end
for _, name in ipairs(lists) do
    if sent[name] > 0 then
        redis.call('EXPIRE', prefix .. name, expiry + 1)
        bump(name, 'messages_count', sent[name], ARGV[8])
    end
    if full[name] > 0 then
        bump(name, 'channel_full_count', full[name], ARGV[8])
        bump(name, 'group_full_count', full[name], ARGV[8])
    end
end
if delivered > 0 then
    bump(ARGV[6], 'messages_count', delivered, ARGV[9])
end
if dropped > 0 then
    bump(ARGV[6], 'channel_full_count', dropped, ARGV[9])
    bump(ARGV[6], 'group_full_count', dropped, ARGV[9])
    bump(ARGV[7], 'group_full_count', dropped, ARGV[9])
end
local reply = {delivered, dropped}
for _, member in ipairs(named) do
    reply[#reply + 1] = member
end
return reply
