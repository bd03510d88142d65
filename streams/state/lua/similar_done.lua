-- Taken similar lists written: each item leaves the taken set, unless another taker
-- leased it since (its lease is no longer ours).
-- KEYS[1] the taken set (keys.similar_taken); ARGV[1] our lease, then the items.
local lease = tonumber(ARGV[1])
for k = 2, #ARGV do
  local held = redis.call('ZSCORE', KEYS[1], ARGV[k])
  if held and tonumber(held) == lease then
    redis.call('ZREM', KEYS[1], ARGV[k])
  end
end
return 0
