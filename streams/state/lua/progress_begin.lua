-- Record a batch's end (and plan) on one partition, only for the current owner, and
-- only if Redis still holds what this owner last saw of the partition.
-- KEYS: progress
-- ARGV: token (the epoch the caller claimed), the fence the caller last saw (claimed or
--       committed), intent_end [, intent_plan]
-- Returns 1 when recorded, 0 when refused (another owner claimed the partition since),
-- -1 when Redis lost acknowledged writes: the stored epoch is below the caller's token
-- (or gone), or the fence is below what the caller committed (a failover to a lagging
-- replica, a restart without its append-only file, a restore of an older snapshot).
-- The intent records the server's run id: a commit on another server redoes the batch.
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local token = tonumber(ARGV[1])
if epoch > token then
  return 0
end
if epoch < token or tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1') < tonumber(ARGV[2]) then
  return -1
end
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if ARGV[4] then
  redis.call('HSET', KEYS[1], 'intent_end', ARGV[3], 'intent_run', run, 'intent_plan', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'intent_end', ARGV[3], 'intent_run', run)
end
return 1
