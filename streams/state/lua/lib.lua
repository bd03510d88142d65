-- Shared helpers, prepended to every script by streams.state.toolkit.script: many fields
-- in one command instead of one command per field. Calls are chunked because unpack()
-- of more than ~8,000 values fails ("too many results to unpack").
local CHUNK = 1000

-- Ids packed as uint32 lengths (little-endian) and the concatenated bytes.
local function ids(lens, data)
  local out, pos = {}, 1
  for j = 1, #lens / 4 do
    local len = struct.unpack('<I4', lens, 4 * (j - 1) + 1)
    out[j] = string.sub(data, pos, pos + len - 1)
    pos = pos + len
  end
  return out
end

-- HMGET of any number of fields: the values (false where missing), aligned with fields.
local function hmget_all(key, fields)
  local out = {}
  for lo = 1, #fields, CHUNK do
    local got = redis.call('HMGET', key, unpack(fields, lo, math.min(lo + CHUNK - 1, #fields)))
    for j = 1, #got do
      out[lo + j - 1] = got[j]
    end
  end
  return out
end

-- cmd key a1 a2 ... over a flat argument list, in chunks of `per` * CHUNK arguments
-- (`per` = arguments per entry: 2 for HSET field value and ZADD score member, 1 for HDEL).
local function call_all(cmd, key, args, per)
  local step = per * CHUNK
  for lo = 1, #args, step do
    redis.call(cmd, key, unpack(args, lo, math.min(lo + step - 1, #args)))
  end
end


-- Copies with versions in a flat argument list (id, version, values...; `stride` entries
-- per copy, from `first`): the distinct ids in order of first appearance, and for each the
-- position of its newest copy (an id listed twice, e.g. by two partitions: newest wins).
local function newest_copies(args, first, stride)
  local ids, latest = {}, {}
  for k = first, #args, stride do
    local id = args[k]
    local seen = latest[id]
    if not seen then
      ids[#ids + 1] = id
    end
    if not seen or tonumber(args[k + 1]) > tonumber(args[seen + 1]) then
      latest[id] = k
    end
  end
  return ids, latest
end
