-- Move one partition's fence to a batch end and drop the batch's intent, only for the
-- current owner, never backwards, and only on the server the batch began on.
-- KEYS: progress
-- ARGV: token (the epoch the caller claimed), the fence the caller last saw, batch_end,
--       [events] (how many events the batch held, added to the partition's count once,
--       with the fence move; a path whose records pack many events counts them here)
-- Returns 1 when committed, 0 when refused (another owner claimed the partition since),
-- -1 when Redis lost acknowledged writes (as in progress_begin.lua), -2 when the batch's
-- begin is not on this server (a failover or a restart since: some of the batch's writes
-- may be gone with the old server, so the caller redoes the batch from its begin).
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local token = tonumber(ARGV[1])
if epoch > token then
  return 0
end
local batch_end = tonumber(ARGV[3])
local got = redis.call('HMGET', KEYS[1], 'fence', 'intent_end', 'intent_run')
local fence = tonumber(got[1] or '-1')
if epoch < token or fence < tonumber(ARGV[2]) then
  return -1
end
if fence < batch_end then
  if got[3] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then
    return -2
  end
  redis.call('HSET', KEYS[1], 'fence', ARGV[3])
  if ARGV[4] then
    redis.call('HINCRBY', KEYS[1], 'events', tonumber(ARGV[4]))
  end
end
if tonumber(got[2] or '-1') <= batch_end then  -- the intent this commit closes
  redis.call('HDEL', KEYS[1], 'intent_end', 'intent_plan', 'intent_run')
end
return 1
