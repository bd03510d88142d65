-- Add one batch's co-occurrence deltas to one item, at most once per ratings partition.
-- KEYS: cooc, fence, isums           (all tagged {i:<id>})
-- ARGV: fence_field, batch_end, dn, ids, deltas,
--       [d_rating_sum, sum_ids_len, sum_ids, sums]      (only with Pearson sums)
--       (ids and deltas as JSON arrays: cjson decodes them in C, where unpacking packed
--        ids and int32s entry by entry in Lua was most of this script's time; sum_ids as
--        uint32 lengths + concatenated bytes, sums = six float64 per id, added to the
--        48-byte values of isums)
-- Returns {n(i), Σ counted ratings of i, version, 1 if applied now else 0} after the batch
-- (also when applied before); the version counts the batches applied to the item
-- (publish_item_counts.lua; the worker's row cache, streams/state/itemcf_rows.py).
-- The fence, n, s and v are read in one HMGET and written in one HSET, with l: the
-- batch last applied (fence field:batch end), which with v names the row's content for
-- set_cooccurrence.lua.
local head = redis.call('HMGET', KEYS[2], ARGV[1], 'n', 's', 'v')
local n, s, v = tonumber(head[2] or '0'), head[3] or '0', tonumber(head[4] or '0')
local applied = 0
if tonumber(head[1] or '-1') < tonumber(ARGV[2]) then
  local partners, deltas = cjson.decode(ARGV[4]), cjson.decode(ARGV[5])
  local olds = hmget_all(KEYS[1], partners)
  local set, gone = {}, {}
  local k = 0
  for j = 1, #partners do
    local c = (tonumber(olds[j]) or 0) + deltas[j]  -- small integers: exact as doubles
    if c == 0 then
      gone[#gone + 1] = partners[j]
    else
      set[k + 1], set[k + 2] = partners[j], c  -- a Lua number reaches Redis as "%.17g"
      k = k + 2
    end
  end
  call_all('HSET', KEYS[1], set, 2)
  call_all('HDEL', KEYS[1], gone, 1)
  if ARGV[6] then
    s = redis.call('HINCRBYFLOAT', KEYS[2], 's', ARGV[6])
    local others, blob = ids(ARGV[7], ARGV[8]), ARGV[9]
    local old_sums = hmget_all(KEYS[3], others)
    local put, drop = {}, {}
    for j = 1, #others do
      local dn, d1, d2, d3, d4, d5 = struct.unpack('<dddddd', blob, 48 * (j - 1) + 1)
      local old = old_sums[j]
      local n, s1, s2, s3, s4, s5 = dn, d1, d2, d3, d4, d5
      if old then
        local on, o1, o2, o3, o4, o5 = struct.unpack('<dddddd', old)
        n, s1, s2, s3, s4, s5 = on + dn, o1 + d1, o2 + d2, o3 + d3, o4 + d4, o5 + d5
      end
      if n < 0.5 then
        drop[#drop + 1] = others[j]
      else
        put[#put + 1] = others[j]
        put[#put + 1] = struct.pack('<dddddd', n, s1, s2, s3, s4, s5)
      end
    end
    call_all('HSET', KEYS[3], put, 2)
    call_all('HDEL', KEYS[3], drop, 1)
  end
  n, v, applied = n + tonumber(ARGV[3]), v + 1, 1
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], 'n', string.format('%d', n),
             'v', string.format('%d', v), 'l', ARGV[1] .. ':' .. ARGV[2])
end
return {n, s, v, applied}
