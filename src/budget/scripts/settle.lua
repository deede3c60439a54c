-- Settle one request exactly once: drop its reservation, add the actual cost, append the usage record.
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv  KEYS[4] resv:amt  KEYS[5] done (zset id→ms)  KEYS[6] ledger (stream)
-- KEYS[7] epoch
-- ARGV[1] requestId  ARGV[2] cost µUSD  ARGV[3] now ms  ARGV[4] done retention ms  ARGV[5] periodKey
-- ARGV[6] the caller's epoch ('' = any)  ARGV[7] the record's field/value pairs (recordToFields) as one JSON array of
-- strings: one argument to encode and send instead of two dozen; the entry is written one field per column as before.
-- ARGV[8] (optional) the budget slice the request drew from (slices.ts)  ARGV[9] the amount it drew: the slice's
-- reservation shrinks by it, in the same step that adds the cost, so spent + reserved never counts the draw twice.
-- Returns {1, epoch, sliceHeld} settled (sliceHeld 0: ARGV[8] named a slice whose reservation is gone) | {0, epoch}
-- already settled or released (no change) | {-1} the caller's epoch is gone
-- (no change): it recovers, which re-registers this reservation, and settles again. epoch is '' if there is none.
local id = ARGV[1]
-- Decoded and checked before anything is written: Redis does not undo a script's writes when it fails halfway.
local fields = cjson.decode(ARGV[7])
local function isFieldList(t)
  if type(t) ~= 'table' or #t == 0 or #t % 2 ~= 0 then return false end
  for _, v in ipairs(t) do if type(v) ~= 'string' then return false end end
  return true
end
if not isFieldList(fields) then return redis.error_reply('settle: the record must be a JSON array of field/value strings') end
local epoch = callerEpoch(KEYS[7], ARGV[6])
if not epoch then return {-1} end
if redis.call('ZSCORE', KEYS[5], id) then return {0, epoch} end
local now = tonumber(ARGV[3])

-- A reservation Redis does not know (reclaimed, or a fail-open request) is no reason not to charge: the cost is
-- added all the same, once (the done set above).
dropReservation(KEYS[2], KEYS[3], KEYS[4], id, ARGV[5])
-- Without the slice's reservation (reclaimed, released, or Redis restored from an older snapshot) the slice backs no
-- more draws: the caller stops drawing from it.
local sliceHeld = 1
if ARGV[8] and ARGV[8] ~= '' and not shrinkReservation(KEYS[2], KEYS[4], ARGV[8], ARGV[5], ARGV[9]) then sliceHeld = 0 end

-- A missing counter stays missing so the next reserve rebuilds it; this record is then counted from the stream.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[2]) end

-- period and cost first: recover.lua and redis-recovery.ts read them by position.
redis.call('XADD', KEYS[6], '*', 'period', ARGV[5], 'cost', ARGV[2], unpack(fields))

redis.call('ZADD', KEYS[5], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[4]))
return {1, epoch, sliceHeld}
