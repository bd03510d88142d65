-- The similar lists a batch defers and the ones whose time has come, in one call.
-- KEYS[1] the due set (keys.similar_due); ARGV[1] now, ARGV[2] the most to take,
-- then (due time, item) pairs to defer: added only where absent (the earliest stays).
-- Returns the items due at ``now``, removed from the set: the caller re-scores them.
local due = KEYS[1]
for k = 3, #ARGV, 4000 do  -- one ZADD per 2,000 items (unpack's stack bounds a call)
  redis.call('ZADD', due, 'NX', unpack(ARGV, k, math.min(k + 3999, #ARGV)))
end
local taken = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #taken > 0 then
  for k = 1, #taken, 5000 do
    redis.call('ZREM', due, unpack(taken, k, math.min(k + 4999, #taken)))
  end
end
return taken
