-- Replace one user's embedding row and apply their rating changes, at most once.
-- KEYS: emb, emb_rated                    (one hash tag: {u:<id>})
-- ARGV: fence_field, batch_end, row, ids_len, ids, values_len, values
--       (uint32 lengths + concatenated bytes; an empty value removes the rating)
local fence = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if fence >= tonumber(ARGV[2]) then
  return 0
end
local lens, data, vlens, values = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local pos, vpos = 1, 1
local set, gone = {}, {}
for j = 1, #lens / 4 do
  local len = struct.unpack('<I4', lens, 4 * (j - 1) + 1)
  local vlen = struct.unpack('<I4', vlens, 4 * (j - 1) + 1)
  local id = string.sub(data, pos, pos + len - 1)
  local value = string.sub(values, vpos, vpos + vlen - 1)
  pos, vpos = pos + len, vpos + vlen
  if vlen == 0 then  -- the last change of an id wins, as one by one
    gone[#gone + 1] = id
    set[id] = nil
  else
    set[id] = value
  end
end
local flat = {}
for id, value in pairs(set) do
  flat[#flat + 1] = id
  flat[#flat + 1] = value
end
call_all('HDEL', KEYS[2], gone, 1)
call_all('HSET', KEYS[2], flat, 2)
redis.call('HSET', KEYS[1], 'row', ARGV[3], ARGV[1], ARGV[2])
return 1
