-- Shipper: the batch read by ship-read.lua is in the store; ack it, delete it from the stream and release the
-- shipping lease, atomically, but only while this shipper still holds the lease. If the lease expired (an insert
-- slower than the lease), a rebuild may be between reading the stream and recover.lua, counting these
-- entries from the stream and not from the store: deleting them now would make it miss them. They stay pending
-- instead; this consumer re-reads them next pass (or a live one claims them) and the re-insert is a no-op
-- (ON CONFLICT DO NOTHING).
-- KEYS[1] ledger (stream)  KEYS[2] shiplease
-- ARGV[1] token  ARGV[2] group  ARGV[3..] entry ids
-- Returns the number of entries acked by this call (one acked by another consumer is not counted twice) | -1 lease lost.
if not holdsLease(KEYS[2], ARGV[1]) then return -1 end
local n = 0
for i = 3, #ARGV do
  if redis.call('XACK', KEYS[1], ARGV[2], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
redis.call('DEL', KEYS[2])
return n
