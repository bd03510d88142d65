-- Publish users' means, never overwriting a newer one: two workers may apply batches of
-- the same user in one order and publish in the other. Each mean comes with the user's
-- `ver` at the moment its count and sum were read; an older ver is ignored.
-- KEYS: means, means_ver              (both tagged {g})
-- ARGV: user_1, ver_1, mean_1, ...    (mean '' = the user has no rating left)
for j = 1, #ARGV, 3 do
  local seen = tonumber(redis.call('HGET', KEYS[2], ARGV[j]) or '-1')
  if tonumber(ARGV[j + 1]) > seen then
    redis.call('HSET', KEYS[2], ARGV[j], ARGV[j + 1])
    if ARGV[j + 2] == '' then
      redis.call('HDEL', KEYS[1], ARGV[j])
    else
      redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 2])
    end
  end
end
return 1
