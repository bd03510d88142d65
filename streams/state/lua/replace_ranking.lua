-- Replace a sorted set (and optionally a hash of one text per member) in one call.
-- KEYS: zset [, hash]                 (one hash tag)
-- ARGV: ids_len, ids, scores [, texts_len, texts]
--       (ids and texts as uint32 lengths + concatenated bytes; scores float64 per id)
-- Writes go in chunks of CHUNK members: unpack() of more than ~8,000 values fails
-- ("too many results to unpack"), and lists may hold 10,000 entries.
local CHUNK = 1000
redis.call('DEL', unpack(KEYS))
local lens, data, scores = ARGV[1], ARGV[2], ARGV[3]
local n = #lens / 4
if n == 0 then
  return 0
end
local zargs, hargs = {}, {}
local pos, tpos = 1, 1
for j = 1, n do
  local len = struct.unpack('<I4', lens, 4 * (j - 1) + 1)
  local id = string.sub(data, pos, pos + len - 1)
  pos = pos + len
  zargs[#zargs + 1] = string.format('%.17g', struct.unpack('<d', scores, 8 * (j - 1) + 1))
  zargs[#zargs + 1] = id
  if KEYS[2] then
    local tlen = struct.unpack('<I4', ARGV[4], 4 * (j - 1) + 1)
    hargs[#hargs + 1] = id
    hargs[#hargs + 1] = string.sub(ARGV[5], tpos, tpos + tlen - 1)
    tpos = tpos + tlen
  end
  if j % CHUNK == 0 or j == n then
    redis.call('ZADD', KEYS[1], unpack(zargs))
    zargs = {}
    if KEYS[2] then
      redis.call('HSET', KEYS[2], unpack(hargs))
      hargs = {}
    end
  end
end
return n
