-- Reserve budget for one request, atomically (docs/budgets.md "Reserve").
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv (zset id→expiry ms)  KEYS[4] resv:amt (hash id→"period|amount")
-- KEYS[5] epoch
-- ARGV[1] requestId  ARGV[2] amount µUSD  ARGV[3] limit µUSD (-1 = unlimited)  ARGV[4] now ms (from the caller, so the
-- script is deterministic under replication)  ARGV[5] expiry ms  ARGV[6] periodKey  ARGV[7] grace ms for the reserved key TTL
-- ARGV[8] the caller's epoch for this tenant ('' = it holds nothing here)
-- ARGV[9] (optional, a budget slice: slices.ts) the least amount worth holding: ARGV[2] is then the most wanted, and
-- under a limit the script grants at most half of what is left, so one gateway's slice never takes the whole rest
-- Returns {1, spent, reserved, epoch, granted} admitted | {0, spent, reserved, epoch} rejected | {-1} nothing done: the spent
-- counter or the epoch is missing, or the epoch is not the caller's; the caller must recover (redis-ledger.ts).
local now = tonumber(ARGV[4])
local period = ARGV[6]

-- Without the spent counter we cannot decide: never treat a lost counter as zero. Without the epoch, or with another
-- one, Redis lost state (reservations, records) that some gateway still holds: it must be put back first.
local epoch = callerEpoch(KEYS[5], ARGV[8])
if not epoch or epoch == '' then return {-1} end
local spent = redis.call('GET', KEYS[1])
if not spent then return {-1} end
spent = tonumber(spent)

-- 1. Reclaim this tenant's expired reservations (abandoned by a crashed gateway). Bounded per call; the rest go next time.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 256)
-- Only the current period's counter is in KEYS; a past period's reserved key carries a TTL and simply expires.
for _, id in ipairs(expired) do dropReservation(KEYS[2], KEYS[3], KEYS[4], id, period) end

local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
-- 2. Idempotent: a retried reserve for the same request does not reserve twice.
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return {1, spent, reserved, epoch} end

local amount = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if ARGV[9] then
  if limit >= 0 then amount = math.min(amount, math.floor((limit - spent - reserved) / 2)) end
  if amount < tonumber(ARGV[9]) then return {0, spent, reserved, epoch} end
end
if limit >= 0 and spent + reserved + amount > limit then return {0, spent, reserved, epoch} end

addReservation(KEYS[2], KEYS[3], KEYS[4], ARGV[1], period, string.format('%d', amount), ARGV[5], ARGV[7])
return {1, spent, reserved + amount, epoch, amount}
