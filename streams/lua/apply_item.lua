-- Write one item's new rater states for a batch, at most once.
-- KEYS: raters, fence                (both tagged {i:<id>})
-- ARGV: partition, batch_end, user_1, packed_1, ...   (packed = 16 bytes, '' = forget)
local fence = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if fence >= tonumber(ARGV[2]) then
  return 0
end
for j = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
