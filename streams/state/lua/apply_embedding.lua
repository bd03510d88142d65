-- Add one partition's batch of embedding deltas to the shared model, at most once.
-- KEYS: items, model                      (both {g})
-- ARGV: fence_field, batch_end, width, ids_len, ids, deltas, bases,
--       network_delta, network_base, mean_delta
--       (ids as uint32 lengths + concatenated bytes; rows of `width` float64; a base is
--        where a row starts when the hash has none yet: the same on every worker)
local fence = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if fence >= tonumber(ARGV[2]) then
  return 0
end
local function add(current, delta, offset, n)
  local out = {}
  for t = 0, n - 1 do
    local a = struct.unpack('<d', current, 8 * t + 1)
    local d = struct.unpack('<d', delta, offset + 8 * t + 1)
    out[t + 1] = struct.pack('<d', a + d)
  end
  return table.concat(out)
end
local width = tonumber(ARGV[3])
local lens, data, deltas, bases = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local rows = ids(lens, data)
local olds = hmget_all(KEYS[1], rows)
local set = {}
for j = 1, #rows do
  local offset = 8 * width * (j - 1)
  local row = olds[j]
  if not row then
    row = string.sub(bases, offset + 1, offset + 8 * width)
  end
  set[#set + 1] = rows[j]
  set[#set + 1] = add(row, deltas, offset, width)
end
call_all('HSET', KEYS[1], set, 2)
if #ARGV[8] > 0 then
  local net = redis.call('HGET', KEYS[2], 'net') or ARGV[9]
  redis.call('HSET', KEYS[2], 'net', add(net, ARGV[8], 0, #ARGV[8] / 8))
end
local mean = redis.call('HGET', KEYS[2], 'mean') or struct.pack('<dd', 0, 0)
redis.call('HSET', KEYS[2], 'mean', add(mean, ARGV[10], 0, 2))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
