-- receive.lua: pop up to a batch of entries from the lists, resolve and
-- delete their bodies. Used by ChatChannelLayer.receive and receive_twisted.
--
-- An entry is either a body key (written by send.lua; the body is a string)
-- or "<body key>|<channel>" (written by send_group.lua; the body is a hash
-- of "b", the body, and "n", the entries still to read it, deleted at zero).
--
-- KEYS     the channel lists (prefixed), taken in order
--
-- ARGV[1]  the most entries to pop
-- ARGV[2]  optional: a list key that BLPOP has already popped an entry from
-- ARGV[3]  optional: that entry; it is resolved first and counted as popped
--
-- Returns {entries popped, then list key, channel ('' for a plain entry),
-- body for each message whose body had not expired}. Fewer messages than
-- entries popped means some bodies had expired.

local limit = tonumber(ARGV[1])
local out = {0}
local popped = 0
local function take(list, entry)
    local body
    local channel = ''
    local bar = string.find(entry, '|', 1, true)
    if bar then
        local key = string.sub(entry, 1, bar - 1)
        channel = string.sub(entry, bar + 1)
        body = redis.call('HGET', key, 'b')
        if body and redis.call('HINCRBY', key, 'n', -1) <= 0 then
            redis.call('DEL', key)
        end
    else
        body = redis.call('GET', entry)
        if body then
            redis.call('DEL', entry)
        end
    end
    if body then
        out[#out + 1] = list
        out[#out + 1] = channel
        out[#out + 1] = body
    end
end
if ARGV[2] then
    popped = 1
    take(ARGV[2], ARGV[3])
end
for i = 1, #KEYS do
    while popped < limit do
        local entry = redis.call('LPOP', KEYS[i])
        if not entry then
            break
        end
        popped = popped + 1
        take(KEYS[i], entry)
    end
end
out[1] = popped
return out
