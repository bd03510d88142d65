-- Take ownership of one partition's progress: a new owner epoch (fencing token).
-- KEYS: progress                      (one partition's hash, keys.partition_progress)
-- Returns {fence, intent_end, epoch}: what the new owner resumes from (-1 for none),
-- read in the same step as the epoch moves, so no begin or commit of an older owner
-- can land between the read and the claim.
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local got = redis.call('HMGET', KEYS[1], 'fence', 'intent_end')
return {got[1] or '-1', got[2] or '-1', epoch}
