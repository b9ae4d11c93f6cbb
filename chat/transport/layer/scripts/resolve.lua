-- resolve.lua: read and delete the bodies of entries in the earlier,
-- pointer formats, already popped by LMPOP or BLMPOP. Used by
-- ChatChannelLayer.receive and receive_twisted only for such entries: those
-- of the stock asgi_redis layer, and those this layer wrote before
-- 2026-12-05, when it began to carry bodies inline.
--
-- A pointer entry is either a body key (the stock layer's send; the body is a
-- string) or "<body key>|<channel>" (the earlier send_group.lua; the body is a
-- hash of "b", the body, and "n", the entries still to read it, deleted at
-- zero).
--
-- ARGV     pairs of (list key the entry was popped from, the entry)
--
-- Returns {list key, channel ('' for a plain entry), body} for each entry,
-- in order; the body is '' when it had expired (no message packs to '').

local out = {}
for i = 1, #ARGV, 2 do
    local list, entry = ARGV[i], ARGV[i + 1]
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
    out[#out + 1] = list
    out[#out + 1] = channel
    out[#out + 1] = body or ''
end
return out
