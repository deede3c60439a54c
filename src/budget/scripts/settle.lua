-- Settle one request exactly once: drop its reservation, add the actual cost, append the usage record.
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv  KEYS[4] resv:amt  KEYS[5] done (zset id→ms)  KEYS[6] ledger (stream)
-- ARGV[1] requestId  ARGV[2] cost µUSD  ARGV[3] now ms  ARGV[4] done retention ms  ARGV[5] periodKey  ARGV[6..] record field/value pairs
-- Returns 1 settled | 0 already settled or released (no change).
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[5], id) then return 0 end
local now = tonumber(ARGV[3])

dropReservation(KEYS[2], KEYS[3], KEYS[4], id, ARGV[5])

-- A missing counter stays missing so the next reserve rebuilds it; this record is then counted from the stream.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[2]) end

-- period and cost first: init-counter.lua and redis-ledger.ts read them by position.
redis.call('XADD', KEYS[6], '*', 'period', ARGV[5], 'cost', ARGV[2], unpack(ARGV, 6))

redis.call('ZADD', KEYS[5], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[4]))
return 1
