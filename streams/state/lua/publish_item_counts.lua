-- Copy items' n(i) (and mean) into the global hashes, newest version first wins.
-- Batches of different ratings partitions move one item's n on different workers; their
-- copies may arrive out of order, so each carries the item's version (bumped with n in
-- apply_cooccurrence.lua) and an older copy never overwrites a newer one.
-- KEYS: counts, versions, means                    (all tagged {g})
-- ARGV: with_means, then per item: id, version, n, mean ('' = none)
local with_means = ARGV[1] == '1'
for k = 2, #ARGV, 4 do
  local item, version = ARGV[k], tonumber(ARGV[k + 1])
  if version > tonumber(redis.call('HGET', KEYS[2], item) or '0') then
    redis.call('HSET', KEYS[2], item, ARGV[k + 1])
    redis.call('HSET', KEYS[1], item, ARGV[k + 2])
    if with_means then
      if ARGV[k + 3] == '' then
        redis.call('HDEL', KEYS[3], item)
      else
        redis.call('HSET', KEYS[3], item, ARGV[k + 3])
      end
    end
  end
end
return 0
