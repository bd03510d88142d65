-- Apply one batch's changes to one user, atomically, each portion at most once.
-- A portion is the share of one by-item partition; it carries that partition's batch end,
-- checked against and recorded in the user's fence for that partition.
-- KEYS: state, ratings, pairs, nbrs  (all tagged {u:<id>}: one cluster slot)
-- ARGV: n_portions, K (0 = no stale check), whole (1 = pair sums coalesced over the
--       whole batch, after the portions), then per portion:
--         fence_field, batch_end, d_count, d_sum, d_sumsq,
--         rating_ids_len, rating_ids, rating_values,   (values: float64, NaN = delete)
--         partner_ids_len, partner_ids, sums,         (sums: 6 float64 per partner;
--                                                      empty when whole = 1)
--         d_counted   (change of the user's counted ratings on this partition: history cap)
--       then, when whole = 1: partner_ids_len, partner_ids, sums of the whole batch;
--       then, when K > 0: check_ids_len, check_ids, check_means (float64 per id),
--         min_support, shrinkage (the similarity as the neighbourhoods weigh it:
--         0 below min_support co-rated items, else Pearson · n / (n + shrinkage))
-- Id lists are packed as uint32 lengths (little-endian) and the concatenated bytes.
-- Returns {applied portions, count, sum, ver, stale (0/1)}; with whole = 1 and only some
-- portions new (a partition being redone), {-1} and nothing written: the caller sends
-- the pair sums per portion instead.
local state, ratings, pairs, nbrs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n_portions, whole = tonumber(ARGV[1]), ARGV[3] == '1'

local fields = {}
for p = 1, n_portions do
  fields[p] = ARGV[4 + 12 * (p - 1)]
end
local fences = hmget_all(state, fields)
local new = 0
for p = 1, n_portions do
  if tonumber(fences[p] or '-1') < tonumber(ARGV[5 + 12 * (p - 1)]) then
    new = new + 1
  end
end
if whole and new > 0 and new < n_portions then
  return {-1}
end

-- Add (k, 6) float64 sums to the user's pairs; a pair with no co-rated item left goes.
local function add_pairs(lens, data, blob)
  local partners = ids(lens, data)
  local olds = hmget_all(pairs, partners)
  local set, gone = {}, {}
  for j = 1, #partners do
    local dn, dsu, dsv, dsuu, dsvv, dsuv = struct.unpack('<dddddd', blob, 48 * (j - 1) + 1)
    local old = olds[j]
    local n, su, sv, suu, svv, suv = dn, dsu, dsv, dsuu, dsvv, dsuv
    if old then
      local on, osu, osv, osuu, osvv, osuv = struct.unpack('<dddddd', old)
      n, su, sv = on + dn, osu + dsu, osv + dsv
      suu, svv, suv = osuu + dsuu, osvv + dsvv, osuv + dsuv
    end
    if n < 0.5 then
      gone[#gone + 1] = partners[j]
    else
      set[#set + 1] = partners[j]
      set[#set + 1] = struct.pack('<dddddd', n, su, sv, suu, svv, suv)
    end
  end
  call_all('HSET', pairs, set, 2)
  call_all('HDEL', pairs, gone, 1)
end

local applied = 0
local a = 4
for p = 1, n_portions do
  local field, batch_end = ARGV[a], tonumber(ARGV[a + 1])
  if tonumber(fences[p] or '-1') < batch_end then
    applied = applied + 1
    if tonumber(ARGV[a + 2]) ~= 0 or tonumber(ARGV[a + 3]) ~= 0 or tonumber(ARGV[a + 4]) ~= 0 then
      redis.call('HINCRBYFLOAT', state, 'count', ARGV[a + 2])
      redis.call('HINCRBYFLOAT', state, 'sum', ARGV[a + 3])
      redis.call('HINCRBYFLOAT', state, 'sumsq', ARGV[a + 4])
    end
    local items, values = ids(ARGV[a + 5], ARGV[a + 6]), ARGV[a + 7]
    local set, gone = {}, {}
    for j = 1, #items do
      local value = struct.unpack('<d', values, 8 * (j - 1) + 1)
      if value ~= value then
        gone[#gone + 1] = items[j]
      else
        set[#set + 1] = items[j]
        set[#set + 1] = string.format('%.17g', value)
      end
    end
    call_all('HSET', ratings, set, 2)
    call_all('HDEL', ratings, gone, 1)
    add_pairs(ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])  -- empty when whole
    local d_counted = tonumber(ARGV[a + 11])
    if d_counted ~= 0 then  -- h:<p> = the count, hb:<p> = '<batch end>:<count before>'
      local suffix = string.sub(field, 2)
      local before = tonumber(redis.call('HGET', state, 'h' .. suffix) or '0')
      redis.call('HSET', state, 'h' .. suffix, string.format('%d', before + d_counted),
        'hb' .. suffix, ARGV[a + 1] .. ':' .. string.format('%d', before))
    end
    redis.call('HSET', state, field, ARGV[a + 1])
  end
  a = a + 12
end
if whole then
  if applied > 0 then  -- then every portion is new
    add_pairs(ARGV[a], ARGV[a + 1], ARGV[a + 2])
  end
  a = a + 3
end

local ver = redis.call('HGET', state, 'ver') or '0'
if applied > 0 then
  ver = redis.call('HINCRBY', state, 'ver', 1)
end
local s = redis.call('HMGET', state, 'count', 'sum')
local count, total = tonumber(s[1] or '0'), tonumber(s[2] or '0')

-- Could the partners' changes reach this (non-rating) user's lists? A changed partner
-- is a neighbour now, or its new similarity would put it among the K most similar.
local stale = 0
local K = tonumber(ARGV[2])
if K > 0 and applied > 0 and count > 0 then
  local mean = total / count
  local listed = redis.call('ZRANGE', nbrs, 0, -1, 'WITHSCORES')  -- at most K, lowest first
  local floor = nil
  if #listed / 2 >= K then
    floor = tonumber(listed[2])
  end
  local neighbour = {}
  for j = 1, #listed, 2 do
    neighbour[listed[j]] = true
  end
  local check, means = ids(ARGV[a], ARGV[a + 1]), ARGV[a + 2]
  local min_support, shrinkage = tonumber(ARGV[a + 3] or '1'), tonumber(ARGV[a + 4] or '0')
  local packs = {}
  for j = 1, #check do
    if neighbour[check[j]] then
      stale = 1
      break
    end
  end
  if stale == 0 then
    packs = hmget_all(pairs, check)
  end
  for j = 1, #packs do
    local packed = packs[j]
    if packed then
      local mp = struct.unpack('<d', means, 8 * (j - 1) + 1)
      local n, sa, sb, saa, sbb, sab = struct.unpack('<dddddd', packed)
      local cov = sab - mp * sa - mean * sb + n * mean * mp
      local va = saa - 2 * mean * sa + n * mean * mean
      local vb = sbb - 2 * mp * sb + n * mp * mp
      if n >= min_support and va > 1e-9 * math.max(saa, 1) and vb > 1e-9 * math.max(sbb, 1) then
        local sim = cov / math.sqrt(va * vb) * n / (n + shrinkage)
        if sim > 0 and (floor == nil or sim > floor) then
          stale = 1
          break
        end
      end
    end
  end
end
return {applied, s[1] or '0', s[2] or '0', tostring(ver), stale}
