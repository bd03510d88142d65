-- Move one partition's fence forward (never back) for a path whose writes are
-- idempotent (the catalogue: the latest record of an item wins), so it needs no owner
-- token and no intent; the fence only tells a rewind what Redis holds
-- (streams.worker.rewind).
-- KEYS: progress
-- ARGV: batch_end
if tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1') < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'fence', ARGV[1])
end
return 1
