-- Move one partition's fence to a batch end and drop the batch's intent, only for the
-- current owner, and never backwards.
-- KEYS: progress
-- ARGV: token (the epoch the caller claimed), batch_end, [events]
--       (events: how many events the batch held, added to the partition's count once,
--        with the fence move; a path whose records pack many events counts them here)
-- Returns 1 when committed, 0 when refused (another owner claimed the partition since).
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
local batch_end = tonumber(ARGV[2])
local got = redis.call('HMGET', KEYS[1], 'fence', 'intent_end')
if tonumber(got[1] or '-1') < batch_end then
  redis.call('HSET', KEYS[1], 'fence', ARGV[2])
  if ARGV[3] then
    redis.call('HINCRBY', KEYS[1], 'events', tonumber(ARGV[3]))
  end
end
if tonumber(got[2] or '-1') <= batch_end then  -- the intent this commit closes
  redis.call('HDEL', KEYS[1], 'intent_end', 'intent_plan')
end
return 1
