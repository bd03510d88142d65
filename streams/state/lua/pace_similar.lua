-- The similar lists a batch defers and the ones whose time has come, in one call.
-- KEYS[1] the due set (keys.similar_due), KEYS[2] the taken set (keys.similar_taken)
-- ARGV[1] take what is due at or before this (a number, or 'inf'; '-inf' takes nothing),
-- ARGV[2] the most to take, ARGV[3] now, ARGV[4] the lease: taken items stay in the
-- taken set until then (similar_done.lua removes them once written), then
-- (due time, item) pairs to defer: added only where absent (the earliest stays).
-- Leases that ran out (their taker died or failed) go back to the due set first.
-- Returns the items taken.
local due, taken = KEYS[1], KEYS[2]
local expired = redis.call('ZRANGEBYSCORE', taken, '-inf', ARGV[3])
for k = 1, #expired do
  redis.call('ZADD', due, 'NX', ARGV[3], expired[k])
  redis.call('ZREM', taken, expired[k])
end
for k = 5, #ARGV, 4000 do  -- one ZADD per 2,000 items (unpack's stack bounds a call)
  redis.call('ZADD', due, 'NX', unpack(ARGV, k, math.min(k + 3999, #ARGV)))
end
local out = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for k = 1, #out do
  redis.call('ZREM', due, out[k])
  redis.call('ZADD', taken, ARGV[4], out[k])
end
return out
