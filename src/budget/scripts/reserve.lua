-- Reserve budget for one request, atomically (docs/budgets.md "Reserve").
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv (zset id→expiry ms)  KEYS[4] resv:amt (hash id→"period|amount")
-- ARGV[1] requestId  ARGV[2] amount µUSD  ARGV[3] limit µUSD (-1 = unlimited)  ARGV[4] now ms (from the caller, so the
-- script is deterministic under replication)  ARGV[5] expiry ms  ARGV[6] periodKey  ARGV[7] grace ms for the reserved key TTL
-- Returns {1, spent, reserved} admitted | {0, spent, reserved} rejected | {-1} spent counter missing: caller must rebuild.
local now = tonumber(ARGV[4])
local period = ARGV[6]

-- 1. Reclaim this tenant's expired reservations (abandoned by a crashed gateway). Bounded per call; the rest go next time.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 256)
-- Only the current period's counter is in KEYS; a past period's reserved key carries a TTL and simply expires.
for _, id in ipairs(expired) do dropReservation(KEYS[2], KEYS[3], KEYS[4], id, period) end

-- 2. Idempotent: a retried reserve for the same request does not reserve twice.
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then
  return {1, tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0')}
end

-- 3. Without the spent counter we cannot decide: never treat a lost counter as zero.
local spent = redis.call('GET', KEYS[1])
if not spent then return {-1} end
spent = tonumber(spent)
local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
local amount = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit >= 0 and spent + reserved + amount > limit then return {0, spent, reserved} end

redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], period .. '|' .. ARGV[2])
-- The reserved key outlives every reservation in it; once all are expired its value is garbage, so let it go
-- (this is what cleans up a past period's counter, which later reserves cannot name in KEYS).
local expireAt = tonumber(ARGV[5]) + tonumber(ARGV[7])
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIREAT', KEYS[2], expireAt)
else
  redis.call('PEXPIREAT', KEYS[2], expireAt, 'GT')
end
return {1, spent, reserved + amount}
