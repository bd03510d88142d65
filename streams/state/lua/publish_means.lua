-- Publish users' means, counts and sums, never overwriting a newer one: two workers may
-- apply batches of the same user in one order and publish in the other. Each entry comes
-- with the user's `ver` at the moment its count and sum were read; an older ver is
-- ignored. The totals over every user (n, s: the user-based baseline's global mean) move
-- by what each published entry replaced, so they stay the sum of the published entries.
-- KEYS: means, means_ver, counts, totals            (all tagged {g})
-- ARGV: user_1, ver_1, mean_1, count_1, sum_1, ...  (mean '' = the user has no rating left)
local users = {}
for j = 1, #ARGV, 5 do
  users[#users + 1] = ARGV[j]
end
local seen = hmget_all(KEYS[2], users)
local latest, chosen = {}, {}
for k = 1, #users do  -- a user listed twice: the highest ver wins, as one by one
  local j = 5 * k - 4
  local ver = tonumber(ARGV[j + 1])
  local before = latest[users[k]] or tonumber(seen[k] or '-1')
  if ver > before then
    latest[users[k]] = ver
    chosen[users[k]] = j
  end
end
local names = {}
for user, _j in pairs(chosen) do
  names[#names + 1] = user
end
local old = hmget_all(KEYS[3], names)
local head = redis.call('HMGET', KEYS[4], 'n', 's')
local n, s = tonumber(head[1] or '0'), tonumber(head[2] or '0')
local set_vers, set_means, set_counts, gone = {}, {}, {}, {}
for k = 1, #names do
  local user, j = names[k], chosen[names[k]]
  if old[k] then
    local count, sum = string.match(old[k], '^(%S+) (%S+)$')
    n, s = n - tonumber(count), s - tonumber(sum)
  end
  set_vers[#set_vers + 1] = user
  set_vers[#set_vers + 1] = ARGV[j + 1]
  if ARGV[j + 2] == '' then
    gone[#gone + 1] = user
  else
    set_means[#set_means + 1] = user
    set_means[#set_means + 1] = ARGV[j + 2]
    set_counts[#set_counts + 1] = user
    set_counts[#set_counts + 1] = ARGV[j + 3] .. ' ' .. ARGV[j + 4]
    n, s = n + tonumber(ARGV[j + 3]), s + tonumber(ARGV[j + 4])
  end
end
call_all('HSET', KEYS[2], set_vers, 2)
call_all('HSET', KEYS[1], set_means, 2)
call_all('HDEL', KEYS[1], gone, 1)
call_all('HSET', KEYS[3], set_counts, 2)
call_all('HDEL', KEYS[3], gone, 1)
if #names > 0 then
  redis.call('HSET', KEYS[4], 'n', string.format('%d', n), 's', string.format('%.17g', s))
end
return 1
