-- Shipper: records are in the store; ack them, delete them from the stream and count what was shipped per period
-- (init-counter.lua needs that count to rebuild without missing a record in flight).
-- KEYS[1] ledger (stream)  KEYS[2] shipped (hash period→µUSD)
-- ARGV[1] group  ARGV[2..] triples: entry id, periodKey, cost
-- Returns the number of entries acked by this call (an entry acked by another consumer is not counted twice).
local n = 0
for i = 2, #ARGV, 3 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    n = n + 1
  end
end
return n
