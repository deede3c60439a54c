-- Release the shipping lease if this token still holds it (compare-and-delete: never free someone else's lease
-- after ours expired). Used by a shipper whose insert failed and by a rebuild when it is done.
-- KEYS[1] shiplease  ARGV[1] token
-- Returns 1 released | 0 not ours (expired, perhaps taken since).
if holdsLease(KEYS[1], ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
