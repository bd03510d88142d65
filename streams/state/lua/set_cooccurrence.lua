-- Move one item's co-occurrence row by one batch, every ratings partition of the batch at
-- once, from the worker's copy of the row: the new counts themselves, no read, no
-- arithmetic (apply_cooccurrence.lua adds deltas, ~1.5 µs per partner in its HMGET, Lua
-- loop and HSET; here ~0.5). Applied only if every partition is new to the item and the
-- row is still at the copy's version `expect` with `expect_last` the batch last applied
-- (`l`: fence field:batch end; the version moves with every batch applied, and the two
-- together name the row's content even if Redis lost writes and counted up again) and
-- holds `expect_len` partners (a third, cheap check); else nothing is written and the
-- worker sends the deltas per partition instead (a redo, or another worker moved the row).
-- KEYS: cooc, fence                  (tagged {i:<id>})
-- ARGV: expect, expect_last, expect_len, dn, counts, gone, then per partition:
--       fence_field, batch_end
--       (counts = JSON [id, count, id, count, ...] with counts as strings, gone = JSON
--        [id, ...] of the partners whose count reaches 0; cjson decodes them in C)
-- Returns {n(i), Σ counted ratings of i, version, 1 if applied now else 0}.
local fields = {'n', 's', 'v', 'l'}
for j = 7, #ARGV, 2 do
  fields[#fields + 1] = ARGV[j]
end
local head = redis.call('HMGET', KEYS[2], unpack(fields))
local n, s, v = tonumber(head[1] or '0'), head[2] or '0', tonumber(head[3] or '0')
if v ~= tonumber(ARGV[1]) or (head[4] or '') ~= ARGV[2]
    or redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[3]) then
  return {n, s, v, 0}
end
local moved = {}
for j = 7, #ARGV, 2 do
  if tonumber(head[5 + (j - 7) / 2] or '-1') >= tonumber(ARGV[j + 1]) then
    return {n, s, v, 0}
  end
  moved[#moved + 1] = ARGV[j]
  moved[#moved + 1] = ARGV[j + 1]
end
call_all('HSET', KEYS[1], cjson.decode(ARGV[5]), 2)
call_all('HDEL', KEYS[1], cjson.decode(ARGV[6]), 1)
n, v = n + tonumber(ARGV[4]), v + 1
moved[#moved + 1] = 'n'
moved[#moved + 1] = string.format('%d', n)
moved[#moved + 1] = 'v'
moved[#moved + 1] = string.format('%d', v)
moved[#moved + 1] = 'l'
moved[#moved + 1] = ARGV[#ARGV - 1] .. ':' .. ARGV[#ARGV]
redis.call('HSET', KEYS[2], unpack(moved))
return {n, s, v, 1}
