-- Apply one batch's changes to one user, atomically and at most once.
-- KEYS: state, ratings, pairs      (all tagged {u:<id>}: one cluster slot)
-- ARGV: fence_field, batch_end, d_count, d_sum, d_sumsq, n_ratings,
--       item_1, rating_1 ('' = delete), ..., n_partners, partner_1, ..., blob
--       blob = n_partners * 48 bytes: six little-endian doubles per partner
-- Returns {applied (0/1), count, sum, ver}
local state, ratings, pairs = KEYS[1], KEYS[2], KEYS[3]
local batch_end = tonumber(ARGV[2])
local fence = tonumber(redis.call('HGET', state, ARGV[1]) or '-1')
if fence >= batch_end then
  local s = redis.call('HMGET', state, 'count', 'sum', 'ver')
  return {0, s[1] or '0', s[2] or '0', s[3] or '0'}
end
local d_count, d_sum, d_sq = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if d_count ~= 0 or d_sum ~= 0 or d_sq ~= 0 then
  redis.call('HINCRBYFLOAT', state, 'count', ARGV[3])
  redis.call('HINCRBYFLOAT', state, 'sum', ARGV[4])
  redis.call('HINCRBYFLOAT', state, 'sumsq', ARGV[5])
end
local k = 6
local n_ratings = tonumber(ARGV[k])
for j = 1, n_ratings do
  local item, value = ARGV[k + 2 * j - 1], ARGV[k + 2 * j]
  if value == '' then
    redis.call('HDEL', ratings, item)
  else
    redis.call('HSET', ratings, item, value)
  end
end
k = k + 2 * n_ratings + 1
local n_partners = tonumber(ARGV[k])
local blob = ARGV[k + n_partners + 1]
for j = 1, n_partners do
  local partner = ARGV[k + j]
  local dn, dsu, dsv, dsuu, dsvv, dsuv = struct.unpack('<dddddd', blob, 48 * (j - 1) + 1)
  local old = redis.call('HGET', pairs, partner)
  local n, su, sv, suu, svv, suv = dn, dsu, dsv, dsuu, dsvv, dsuv
  if old then
    local on, osu, osv, osuu, osvv, osuv = struct.unpack('<dddddd', old)
    n, su, sv, suu, svv, suv = on + dn, osu + dsu, osv + dsv, osuu + dsuu, osvv + dsvv, osuv + dsuv
  end
  if n < 0.5 then
    redis.call('HDEL', pairs, partner)  -- no co-rated item left: the pair is gone
  else
    redis.call('HSET', pairs, partner, struct.pack('<dddddd', n, su, sv, suu, svv, suv))
  end
end
local ver = redis.call('HINCRBY', state, 'ver', 1)
redis.call('HSET', state, ARGV[1], ARGV[2])
local s = redis.call('HMGET', state, 'count', 'sum')
return {1, s[1] or '0', s[2] or '0', ver}
