-- Release a reservation without spending (upstream failed before any token) and mark the request done,
-- so a late settle for it is a no-op. Never touches spent.
-- KEYS[1] reserved:<period>  KEYS[2] resv  KEYS[3] resv:amt  KEYS[4] done  KEYS[5] epoch
-- ARGV[1] requestId  ARGV[2] periodKey  ARGV[3] now ms  ARGV[4] done retention ms  ARGV[5] the caller's epoch ('' = any)
-- Returns {1, epoch} released | {0, epoch} already settled or released | {-1} the caller's epoch is gone (no change):
-- recover, then again. epoch is '' if there is none.
local id = ARGV[1]
local epoch = callerEpoch(KEYS[5], ARGV[5])
if not epoch then return {-1} end
if redis.call('ZSCORE', KEYS[4], id) then return {0, epoch} end
local now = tonumber(ARGV[3])
dropReservation(KEYS[1], KEYS[2], KEYS[3], id, ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[4]))
return {1, epoch}
