-- Replace a user's neighbourhood and top-N, unless the user changed since they were read.
-- KEYS: state, nbrs, topn            (tagged {u:<id>})
-- ARGV: ver_seen, computed_at, n_nbrs, nbr_1, sim_1, ..., item_1, score_1, ...
-- Returns 1 when written, 0 when stale (the caller queues the user for a refresh).
local ver = redis.call('HGET', KEYS[1], 'ver') or '0'
if ver ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3])
local n_nbrs = tonumber(ARGV[3])
local nbrs, top = {}, {}
for j = 1, n_nbrs do
  nbrs[#nbrs + 1] = ARGV[3 + 2 * j]
  nbrs[#nbrs + 1] = ARGV[2 + 2 * j]
end
for j = 4 + 2 * n_nbrs, #ARGV, 2 do
  top[#top + 1] = ARGV[j + 1]
  top[#top + 1] = ARGV[j]
end
call_all('ZADD', KEYS[2], nbrs, 2)
call_all('ZADD', KEYS[3], top, 2)
redis.call('HSET', KEYS[1], 'topn_at', ARGV[2], 'topn_ver', ver)
return 1
