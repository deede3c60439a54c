-- Prepended to every budget script by scripts.ts (Redis Lua has no include), so shared code exists once.

-- Forget request `id`'s reservation: take its amount off the period's reserved counter, but only if the
-- reservation belongs to `period` (the one counter whose key the caller has in KEYS) and that counter still
-- exists (if it is gone it expired together with all its reservations, see reserve.lua: nothing to subtract).
local function dropReservation(reservedKey, resvKey, resvAmtKey, id, period)
  local v = redis.call('HGET', resvAmtKey, id)
  if v then
    local sep = string.find(v, '|', 1, true)
    if string.sub(v, 1, sep - 1) == period and redis.call('EXISTS', reservedKey) == 1 then
      local left = redis.call('DECRBY', reservedKey, string.sub(v, sep + 1))
      if left < 0 then redis.call('SET', reservedKey, 0, 'KEEPTTL') end
    end
    redis.call('HDEL', resvAmtKey, id)
  end
  redis.call('ZREM', resvKey, id)
end

-- Take up to `by` µUSD off reservation `id` (a gateway's budget slice, see slices.ts) and off the period's reserved
-- counter: a request drawn from the slice settled, or the gateway gives back what the slice no longer needs. Nothing
-- if the reservation is gone (released, reclaimed) or belongs to another period; never below zero.
-- Returns whether the reservation was there.
local function shrinkReservation(reservedKey, resvAmtKey, id, period, by)
  local v = redis.call('HGET', resvAmtKey, id)
  if not v then return false end
  local sep = string.find(v, '|', 1, true)
  if string.sub(v, 1, sep - 1) ~= period then return false end
  local amount = tonumber(string.sub(v, sep + 1))
  local cut = math.min(amount, tonumber(by))
  if cut <= 0 then return true end
  redis.call('HSET', resvAmtKey, id, period .. '|' .. string.format('%d', amount - cut))
  if redis.call('EXISTS', reservedKey) == 1 then
    local left = redis.call('DECRBY', reservedKey, string.format('%d', cut))
    if left < 0 then redis.call('SET', reservedKey, 0, 'KEEPTTL') end
  end
  return true
end

-- Hold `amount` for request `id` in `period` until `expiry` (ms): reserve.lua, and recover.lua re-registering a
-- gateway's live reservations after Redis lost them.
local function addReservation(reservedKey, resvKey, resvAmtKey, id, period, amount, expiry, graceMs)
  redis.call('INCRBY', reservedKey, amount)
  redis.call('ZADD', resvKey, expiry, id)
  redis.call('HSET', resvAmtKey, id, period .. '|' .. amount)
  -- The reserved key outlives every reservation in it; once all are expired its value is garbage, so let it go
  -- (this is what cleans up a past period's counter, which later reserves cannot name in KEYS).
  local expireAt = tonumber(expiry) + tonumber(graceMs)
  if redis.call('PTTL', reservedKey) < 0 then
    redis.call('PEXPIREAT', reservedKey, expireAt)
  else
    redis.call('PEXPIREAT', reservedKey, expireAt, 'GT')
  end
end

-- The tenant's epoch key names the Redis "life" its keys belong to; only recover.lua creates it. A gateway passes
-- the epoch its live reservations and unconfirmed records were written in ('' when it holds none for the tenant):
-- if Redis no longer has that epoch it lost them, and the gateway must recover before going on (redis-ledger.ts).
-- Returns the tenant's epoch ('' if none), or nil if it is not the caller's.
local function callerEpoch(epochKey, expected)
  local epoch = redis.call('GET', epochKey) or ''
  if expected ~= '' and expected ~= epoch then return nil end
  return epoch
end

-- The tenant's shipping lease (usage-shipper.ts, redis-ledger.ts): true if `token` holds it.
local function holdsLease(leaseKey, token)
  return redis.call('GET', leaseKey) == token
end
