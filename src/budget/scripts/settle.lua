-- Settle one request exactly once: drop its reservation, add the actual cost, append the usage record.
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv  KEYS[4] resv:amt  KEYS[5] done (zset id→ms)  KEYS[6] ledger (stream)
-- ARGV[1] requestId  ARGV[2] cost µUSD  ARGV[3] now ms  ARGV[4] done retention ms  ARGV[5] periodKey  ARGV[6..] record field/value pairs
-- Returns 1 settled | 0 already settled or released (no change).
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[5], id) then return 0 end
local now = tonumber(ARGV[3])

local v = redis.call('HGET', KEYS[4], id)
if v then
  local sep = string.find(v, '|', 1, true)
  -- If the reserved key is gone it expired with all its reservations (see reserve.lua): nothing to subtract.
  if string.sub(v, 1, sep - 1) == ARGV[5] and redis.call('EXISTS', KEYS[2]) == 1 then
    local left = redis.call('DECRBY', KEYS[2], string.sub(v, sep + 1))
    if left < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
  end
  redis.call('HDEL', KEYS[4], id)
end
redis.call('ZREM', KEYS[3], id)

-- A missing counter stays missing so the next reserve rebuilds it; this record is then counted from the stream.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[2]) end

-- period and cost first: init-counter.lua reads them by position.
redis.call('XADD', KEYS[6], '*', 'period', ARGV[5], 'cost', ARGV[2], unpack(ARGV, 6))

redis.call('ZADD', KEYS[5], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[4]))
return 1
