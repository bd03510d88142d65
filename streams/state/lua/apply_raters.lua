-- Write one item's new rater entries for a batch portion, at most once, together with the
-- join index (seq -> user) through which the fan-out cap reads windows, and the next seq.
-- KEYS: raters, fence, joins                                (all tagged {i:<id>})
-- ARGV: fence_field, batch_end, ids_len, ids, packed (24 bytes per id: float64 rating,
--       NaN = retracted, int64 source offset, int64 join seq), next_seq,
--       join_seqs (float64 per join), join_ids_len, join_ids, d_count, d_sum, d_popularity
-- d_count and d_sum move the item's number and sum of current ratings (fence fields rn,
-- rs: the item's bias in the user-based baseline, streams.algo.usercf.baseline); rv
-- counts the batches applied, so that the copies of rn, rs and pw (the item's time-decayed
-- rating count, moved by d_popularity) in {g} never go back (publish_item_ratings.lua).
-- Returns {rn, rs, rv, pw, 1 if applied now else 0} after the batch (also when applied
-- before: a redo publishes the copies its first attempt may not have).
-- Ids are packed as uint32 lengths (little-endian) and the concatenated bytes.
local raters, fence, joins = KEYS[1], KEYS[2], KEYS[3]
local head = redis.call('HMGET', fence, ARGV[1], 'rn', 'rs', 'rv', 'pw')
if tonumber(head[1] or '-1') >= tonumber(ARGV[2]) then
  return {head[2] or '0', head[3] or '0', head[4] or '0', head[5] or '0', 0}
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
local count = string.format('%d', tonumber(head[2] or '0') + tonumber(ARGV[10]))
local sum = string.format('%.17g', tonumber(head[3] or '0') + tonumber(ARGV[11]))
local version = string.format('%d', tonumber(head[4] or '0') + 1)
local popularity = string.format('%.17g', tonumber(head[5] or '0') + tonumber(ARGV[12]))
redis.call('HSET', fence, ARGV[1], ARGV[2], 'next_seq', ARGV[6], 'rn', count, 'rs', sum,
           'rv', version, 'pw', popularity)
return {count, sum, version, popularity, 1}
