-- Copy items' n(i) (and mean) into the global hashes, newest version first wins.
-- Batches of different ratings partitions move one item's n on different workers; their
-- copies may arrive out of order, so each carries the item's version (bumped with n in
-- apply_cooccurrence.lua) and an older copy never overwrites a newer one. A handful of
-- commands per call (one HMGET, one HSET per hash, one HDEL), not several per item.
-- KEYS: counts, versions, means                    (all tagged {g})
-- ARGV: with_means, then per item: id, version, n, mean ('' = none)
local with_means = ARGV[1] == '1'
local items, latest = newest_copies(ARGV, 2, 4)
if #items == 0 then
  return 0
end
local stored = hmget_all(KEYS[2], items)
local versions, counts, means, gone = {}, {}, {}, {}
for j, item in ipairs(items) do
  local k = latest[item]
  if tonumber(ARGV[k + 1]) > tonumber(stored[j] or '0') then
    versions[#versions + 1] = item
    versions[#versions + 1] = ARGV[k + 1]
    counts[#counts + 1] = item
    counts[#counts + 1] = ARGV[k + 2]
    if ARGV[k + 3] == '' then
      gone[#gone + 1] = item
    else
      means[#means + 1] = item
      means[#means + 1] = ARGV[k + 3]
    end
  end
end
call_all('HSET', KEYS[2], versions, 2)
call_all('HSET', KEYS[1], counts, 2)
if with_means then
  call_all('HSET', KEYS[3], means, 2)
  call_all('HDEL', KEYS[3], gone, 1)
end
return 0
