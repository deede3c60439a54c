-- Recreate a lost (or new-period) spent counter from the store, exactly, once (concurrent rebuilds: the first wins).
-- The caller (redis-ledger.ts rebuildCounter) holds the tenant's shipping lease from before it read the stream
-- until after this script, so meanwhile no shipper reads a stream entry (ship-read.lua needs the lease) and none
-- is deleted (ack.lua needs the lease). It read the request ids of this period's stream entries (XRANGE), then asked
-- the store for the period's sum EXCLUDING those ids. Every record is then counted exactly once:
-- - in the stream when the caller read it, whether or not a shipper already inserted it into the store (a batch
--   inserted but not acked, or a crashed shipper's): excluded from ARGV[1], still in the stream now → counted below;
-- - settled after that read: in the stream now, and in no store (no shipper could read it) → counted below;
-- - shipped and acked before the caller took the lease: gone from the stream → in ARGV[1] only.
-- KEYS[1] spent:<period>  KEYS[2] ledger (stream)  KEYS[3] shiplease
-- ARGV[1] store sum for the period without the excluded ids  ARGV[2] periodKey  ARGV[3] counter TTL ms (0 = none)
-- ARGV[4] lease token
-- Returns the counter's value | error if the lease was lost (the store query outlived it): the caller retries later.
local cur = redis.call('GET', KEYS[1])
if cur then return tonumber(cur) end
if not holdsLease(KEYS[3], ARGV[4]) then return redis.error_reply('ERR shipping lease lost during the rebuild') end
local period = ARGV[2]
local total = tonumber(ARGV[1])
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local f = e[2]
  if f[1] == 'period' and f[2] == period then total = total + (tonumber(f[4]) or 0) end
end
-- %d, not tostring: Lua prints numbers above 1e14 in exponent form, which SET would store verbatim.
redis.call('SET', KEYS[1], string.format('%d', total))
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3])) end
return total
