-- Release a reservation without spending (upstream failed before any token) and mark the request done,
-- so a late settle for it is a no-op. Never touches spent.
-- KEYS[1] reserved:<period>  KEYS[2] resv  KEYS[3] resv:amt  KEYS[4] done
-- ARGV[1] requestId  ARGV[2] periodKey  ARGV[3] now ms  ARGV[4] done retention ms
-- Returns 1 released | 0 already settled or released.
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[4], id) then return 0 end
local now = tonumber(ARGV[3])
dropReservation(KEYS[1], KEYS[2], KEYS[3], id, ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[4]))
return 1
