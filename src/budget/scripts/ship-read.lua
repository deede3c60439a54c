-- Shipper: take the tenant's shipping lease and read a batch of its ledger stream, in one atomic step.
-- The lease (SET NX PX, random token) is then held through the insert into the store until ack.lua, which acks,
-- deletes and releases it. A counter rebuild takes the same lease (redis-ledger.ts), so while it runs no record
-- is read by a shipper nor deleted from the stream: see recover.lua for why that makes the rebuild exact.
-- Reading only here, under the lease, is what guarantees the "not read" half even if the lease expires.
-- KEYS[1] ledger (stream)  KEYS[2] shiplease
-- ARGV[1] token  ARGV[2] lease ms  ARGV[3] group  ARGV[4] consumer  ARGV[5] count  ARGV[6] claim idle ms
-- Returns {0}: lease busy (a rebuild or another shipper; skip the tenant this pass) | {1, entries}, each entry
-- {id, its field/value list as one JSON array} (one string to parse per record instead of two dozen): this consumer's
-- own unacked entries first (an insert that failed), else entries of consumers idle longer than ARGV[6] (a dead
-- gateway), else new ones. With no entries the lease is released at once.
local stream, lease = KEYS[1], KEYS[2]
local group, consumer, count = ARGV[3], ARGV[4], ARGV[5]
if not redis.call('SET', lease, ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end

local out = {}
local function take(entries)
  for _, e in ipairs(entries) do
    if e[2] then
      out[#out + 1] = {e[1], cjson.encode(e[2])}
    else
      redis.call('XACK', stream, group, e[1]) -- deleted while pending (already shipped): nothing left to ship
    end
  end
end

local own = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, '0')
if type(own) == 'table' and own.err then
  if not string.find(own.err, 'NOGROUP', 1, true) then
    redis.call('DEL', lease)
    return redis.error_reply(own.err)
  end
  -- The group vanished with the stream (Redis restarted empty, or the stream was never shipped): make it again,
  -- from the start of whatever the stream holds now, and go on reading in this same call.
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
elseif own then
  take(own[1][2])
end
if #out == 0 then
  take(redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[6], '0-0', 'COUNT', count)[2])
end
if #out == 0 then
  local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, '>')
  if new then take(new[1][2]) end
end
if #out == 0 then redis.call('DEL', lease) end
return {1, out}
