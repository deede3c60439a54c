-- Recreate a lost (or new-period) spent counter, once: concurrent rebuilds race and the first one wins (SET NX).
-- KEYS[1] spent:<period>  KEYS[2] ledger (stream)  KEYS[3] shipped (hash period→µUSD shipped to the store)
-- ARGV[1] sum from the store (Postgres usage_records)  ARGV[2] periodKey  ARGV[3] shipped[period] read BEFORE the
-- store was queried  ARGV[4] counter TTL ms (0 = none)
-- value = store sum + records shipped since ARGV[3] was read + records still in the stream (not yet shipped).
-- No record can be missed: one shipped before ARGV[3] was read is in the store's answer; one shipped later is in
-- the shipped delta; one not yet shipped is in the stream. A record can be counted twice only if its shipper batch
-- landed in the store during that short read window (or was inserted but not yet acked): the error is bounded
-- and always against the tenant, never in its favour. (The in-process ledger pauses its sink and is exact.)
local cur = redis.call('GET', KEYS[1])
if cur then return tonumber(cur) end
local period = ARGV[2]
local total = tonumber(ARGV[1]) + tonumber(redis.call('HGET', KEYS[3], period) or '0') - tonumber(ARGV[3])
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local f = e[2]
  if f[2] == period then total = total + tonumber(f[4]) end
end
-- %d, not tostring: Lua prints numbers above 1e14 in exponent form, which SET would store verbatim.
redis.call('SET', KEYS[1], string.format('%d', total))
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4])) end
return total
