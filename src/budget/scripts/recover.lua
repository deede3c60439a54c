-- Recreate a tenant's period after Redis lost it (or a new period, or a counter evicted alone), exactly, under the
-- tenant's shipping lease: the spent counter, the calling gateway's live reservations, and the tenant's epoch.
--
-- Spent. The caller (redis-recovery.ts) holds the shipping lease from before it read the stream until after this
-- script, so meanwhile no shipper reads a stream entry (ship-read.lua needs the lease) and none is deleted (ack.lua
-- needs the lease). It first wrote to the store the records it settled in an older epoch (lost with Redis: in no
-- stream), then read the request ids of this period's stream entries (XRANGE) and asked the store for the period's
-- sum EXCLUDING those ids. Every record is then counted exactly once:
-- - in the stream when the caller read it, whether or not a shipper already inserted it into the store (a batch
--   inserted but not acked, or a crashed shipper's): excluded from ARGV[3], still in the stream now → counted below;
-- - settled after that read: in the stream now, and in no store (no shipper could read it) → counted below;
-- - shipped and acked before the caller took the lease, or written to the store by a gateway recovering its own
--   lost records: not in the stream → in ARGV[3] only.
-- Mode 'set' recounts even if the counter exists: another gateway may have rebuilt it before this one had written
-- its lost records. 'init' sets it only if missing; 'keep' expects it to exist (ARGV[3] is then not computed).
--
-- Reservations. ARGV[9..] are the caller's live reservations of this period that Redis may have lost. One already
-- known (still there, or re-registered before), already settled or released (done), or expired is skipped, so
-- re-registering is idempotent and never holds a request twice. Other gateways re-register their own.
--
-- KEYS[1] spent:<period>  KEYS[2] reserved:<period>  KEYS[3] resv  KEYS[4] resv:amt  KEYS[5] done  KEYS[6] ledger (stream)
-- KEYS[7] shiplease  KEYS[8] epoch
-- ARGV[1] lease token  ARGV[2] mode 'keep' | 'init' | 'set'  ARGV[3] store sum for the period without the stream's ids
-- ARGV[4] periodKey  ARGV[5] counter TTL ms (0 = none)  ARGV[6] epoch to create if there is none  ARGV[7] now ms
-- ARGV[8] grace ms for the reserved key TTL  ARGV[9..] reservations: requestId, amount µUSD, expiry ms (triples)
-- Returns {spent, epoch} | {-1} mode 'keep' but the counter is missing (nothing done) | error if the lease was lost
-- (Redis emptied again mid-rebuild, or the store query outlived it), nothing written: the recovery starts over
-- (redis-ledger.ts; redis-recovery.ts isLeaseLost matches this message).
if not holdsLease(KEYS[7], ARGV[1]) then return redis.error_reply('ERR shipping lease lost during the rebuild') end
local mode, period = ARGV[2], ARGV[4]
local cur = redis.call('GET', KEYS[1])
if mode == 'keep' and not cur then return {-1} end

local total
if cur and mode ~= 'set' then
  total = tonumber(cur)
else
  total = tonumber(ARGV[3])
  for _, e in ipairs(redis.call('XRANGE', KEYS[6], '-', '+')) do
    local f = e[2]
    if f[1] == 'period' and f[2] == period then total = total + (tonumber(f[4]) or 0) end
  end
  -- %d, not tostring: Lua prints numbers above 1e14 in exponent form, which SET would store verbatim.
  redis.call('SET', KEYS[1], string.format('%d', total))
  if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5])) end
end

local now = tonumber(ARGV[7])
for i = 9, #ARGV - 2, 3 do
  local id = ARGV[i]
  if tonumber(ARGV[i + 2]) > now and redis.call('HEXISTS', KEYS[4], id) == 0 and not redis.call('ZSCORE', KEYS[5], id) then
    addReservation(KEYS[2], KEYS[3], KEYS[4], id, period, ARGV[i + 1], ARGV[i + 2], ARGV[8])
  end
end

local epoch = redis.call('GET', KEYS[8])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[8], epoch)
end
return {total, epoch}
