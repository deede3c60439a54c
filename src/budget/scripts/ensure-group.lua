-- Create the shipper's consumer group on a tenant's ledger stream (and the stream), if missing.
-- A script rather than a plain XGROUP call: ioredis Cluster cannot find the key of the XGROUP container
-- command (it would route by "CREATE"), while a script names its key in KEYS.
-- KEYS[1] ledger (stream)  ARGV[1] group
-- Returns 1 created | 0 already there.
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(r) == 'table' and r.err then
  if string.find(r.err, 'BUSYGROUP', 1, true) then return 0 end
  return redis.error_reply(r.err)
end
return 1
