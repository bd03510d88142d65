-- Copy items' rating counts and popularity from their fence hashes into {g}, newest
-- version first wins: a batch redone after a crash publishes again what its first attempt
-- may not have, and a copy never goes back to an older one.
-- KEYS: iratings, iratings_ver, popular            (all tagged {g})
-- ARGV: per item: id, version (rv), "<count> <sum>", popularity (pw)
local items, latest = newest_copies(ARGV, 1, 4)
if #items == 0 then
  return 0
end
local stored = hmget_all(KEYS[2], items)
local versions, copies, scores = {}, {}, {}
for j, item in ipairs(items) do
  local k = latest[item]
  if tonumber(ARGV[k + 1]) > tonumber(stored[j] or '0') then
    versions[#versions + 1] = item
    versions[#versions + 1] = ARGV[k + 1]
    copies[#copies + 1] = item
    copies[#copies + 1] = ARGV[k + 2]
    scores[#scores + 1] = ARGV[k + 3]
    scores[#scores + 1] = item
  end
end
call_all('HSET', KEYS[2], versions, 2)
call_all('HSET', KEYS[1], copies, 2)
call_all('ZADD', KEYS[3], scores, 2)
return 0
