-- Record a batch's end (and plan) on one partition, only for the current owner.
-- KEYS: progress
-- ARGV: token (the epoch the caller claimed), intent_end [, intent_plan]
-- Returns 1 when recorded, 0 when refused (another owner claimed the partition since).
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'intent_end', ARGV[2], 'intent_plan', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'intent_end', ARGV[2])
end
return 1
