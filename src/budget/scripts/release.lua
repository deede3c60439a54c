-- Release a reservation without spending (upstream failed before any token) and mark the request done,
-- so a late settle for it is a no-op. Never touches spent.
-- KEYS[1] reserved:<period>  KEYS[2] resv  KEYS[3] resv:amt  KEYS[4] done
-- ARGV[1] requestId  ARGV[2] periodKey  ARGV[3] now ms  ARGV[4] done retention ms
-- Returns 1 released | 0 already settled or released.
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[4], id) then return 0 end
local now = tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[3], id)
if v then
  local sep = string.find(v, '|', 1, true)
  if string.sub(v, 1, sep - 1) == ARGV[2] and redis.call('EXISTS', KEYS[1]) == 1 then
    local left = redis.call('DECRBY', KEYS[1], string.sub(v, sep + 1))
    if left < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
  end
  redis.call('HDEL', KEYS[3], id)
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[4]))
return 1
