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
local owners, packed = ids(ARGV[3], ARGV[4]), ARGV[5]
local set = {}
for j = 1, #owners do
  set[#set + 1] = owners[j]
  set[#set + 1] = string.sub(packed, 24 * (j - 1) + 1, 24 * j)
end
call_all('HSET', KEYS[1], set, 2)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
