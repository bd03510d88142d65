-- Write one owner's new 24-byte entries for a batch portion, at most once: an item's
-- rater states (pairs path) or a user's history (item-to-item path).
-- KEYS: entries, fences              (one hash tag: {i:<id>} or {u:<id>})
-- ARGV: fence_field, batch_end, ids_len, ids, packed
--       (ids as uint32 lengths + concatenated bytes; packed = 24 bytes per id: float64
--        rating, NaN = retracted, int64 source offset, int64 join sequence / counted)
local fence = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if fence >= tonumber(ARGV[2]) then
  return 0
end
local lens, data, packed = ARGV[3], ARGV[4], ARGV[5]
local pos = 1
for j = 1, #lens / 4 do
  local len = struct.unpack('<I4', lens, 4 * (j - 1) + 1)
  local user = string.sub(data, pos, pos + len - 1)
  pos = pos + len
  redis.call('HSET', KEYS[1], user, string.sub(packed, 24 * (j - 1) + 1, 24 * j))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
