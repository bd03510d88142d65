-- One item's raters whose join seqs lie in the given ranges, read through the join index:
-- under the fan-out cap an event pairs only with those, so the read is bounded by the
-- ranges' width, not by the item's audience.
-- KEYS: joins (seq -> user), raters                        (both tagged {i:<id>})
-- ARGV: lo_1, hi_1, lo_2, hi_2, ...                         (inclusive seq ranges)
-- Returns {seq, user, entry, ...} for each seq in the index; the caller drops rows whose
-- entry holds another seq (that rater re-joined since).
local joins, raters = KEYS[1], KEYS[2]
local out = {}
for r = 1, #ARGV, 2 do
  for s = tonumber(ARGV[r]), tonumber(ARGV[r + 1]) do
    local seq = tostring(s)
    local user = redis.call('HGET', joins, seq)
    if user then
      local entry = redis.call('HGET', raters, user)
      if entry then
        out[#out + 1] = seq
        out[#out + 1] = user
        out[#out + 1] = entry
      end
    end
  end
end
return out
