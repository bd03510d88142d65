-- Add one batch's co-occurrence deltas to one item, at most once per ratings partition.
-- KEYS: cooc, fence                  (both tagged {i:<id>})
-- ARGV: fence_field, batch_end, dn, ids_len, ids, deltas
--       (ids as uint32 lengths + concatenated bytes; deltas = int32 per id)
-- Returns n(i) after the batch (also when the batch was applied before).
local fence = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if fence >= tonumber(ARGV[2]) then
  return tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
end
local lens, data, deltas = ARGV[4], ARGV[5], ARGV[6]
local pos = 1
for j = 1, #lens / 4 do
  local len = struct.unpack('<I4', lens, 4 * (j - 1) + 1)
  local partner = string.sub(data, pos, pos + len - 1)
  pos = pos + len
  local d = struct.unpack('<i4', deltas, 4 * (j - 1) + 1)
  if redis.call('HINCRBY', KEYS[1], partner, d) == 0 then
    redis.call('HDEL', KEYS[1], partner)
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[2], 'n', tonumber(ARGV[3]))
