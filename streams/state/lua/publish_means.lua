-- Publish users' means, never overwriting a newer one: two workers may apply batches of
-- the same user in one order and publish in the other. Each mean comes with the user's
-- `ver` at the moment its count and sum were read; an older ver is ignored.
-- KEYS: means, means_ver              (both tagged {g})
-- ARGV: user_1, ver_1, mean_1, ...    (mean '' = the user has no rating left)
local users = {}
for j = 1, #ARGV, 3 do
  users[#users + 1] = ARGV[j]
end
local seen = hmget_all(KEYS[2], users)
local vers, means, gone, latest = {}, {}, {}, {}
for k = 1, #users do  -- a user listed twice: the highest ver wins, as one by one
  local j = 3 * k - 2
  local ver = tonumber(ARGV[j + 1])
  local before = latest[users[k]] or tonumber(seen[k] or '-1')
  if ver > before then
    latest[users[k]] = ver
    vers[users[k]] = ARGV[j + 1]
    means[users[k]] = ARGV[j + 2]
  end
end
local set_vers, set_means = {}, {}
for user, ver in pairs(vers) do
  set_vers[#set_vers + 1] = user
  set_vers[#set_vers + 1] = ver
  if means[user] == '' then
    gone[#gone + 1] = user
  else
    set_means[#set_means + 1] = user
    set_means[#set_means + 1] = means[user]
  end
end
call_all('HSET', KEYS[2], set_vers, 2)
call_all('HSET', KEYS[1], set_means, 2)
call_all('HDEL', KEYS[1], gone, 1)
return 1
