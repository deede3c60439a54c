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

-- The tenant's shipping lease (usage-shipper.ts, redis-ledger.ts): true if `token` holds it.
local function holdsLease(leaseKey, token)
  return redis.call('GET', leaseKey) == token
end

