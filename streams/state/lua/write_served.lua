-- Store a user's served list unless one fused from newer source lists is already there.
-- KEYS: served                          (tagged {u:<id>})
-- ARGV: v (served_seq, read before the lists), doc, ends
-- Returns 1 when written, 0 when a newer fusion won.
local v = redis.call('HGET', KEYS[1], 'v')
if v and tonumber(v) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'doc', ARGV[2], 'ends', ARGV[3])
return 1
