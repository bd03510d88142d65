-- Write one item's new rater entries for a batch portion, at most once, together with the
-- join index (seq -> user) through which the fan-out cap reads windows, and the next seq.
-- KEYS: raters, fence, joins                                (all tagged {i:<id>})
-- ARGV: fence_field, batch_end, ids_len, ids, packed (24 bytes per id: float64 rating,
--       NaN = retracted, int64 source offset, int64 join seq), next_seq,
--       join_seqs (float64 per join), join_ids_len, join_ids
-- Ids are packed as uint32 lengths (little-endian) and the concatenated bytes.
local raters, fence, joins = KEYS[1], KEYS[2], KEYS[3]
if tonumber(redis.call('HGET', fence, ARGV[1]) or '-1') >= tonumber(ARGV[2]) then
  return 0
end

local users, packed = ids(ARGV[3], ARGV[4]), ARGV[5]
local set = {}
for j = 1, #users do
  set[#set + 1] = users[j]
  set[#set + 1] = string.sub(packed, 24 * (j - 1) + 1, 24 * j)
end
call_all('HSET', raters, set, 2)
local joined, seqs = ids(ARGV[8], ARGV[9]), ARGV[7]
set = {}
for j = 1, #joined do
  set[#set + 1] = string.format('%d', struct.unpack('<d', seqs, 8 * (j - 1) + 1))
  set[#set + 1] = joined[j]
end
call_all('HSET', joins, set, 2)
redis.call('HSET', fence, ARGV[1], ARGV[2], 'next_seq', ARGV[6])
return 1
