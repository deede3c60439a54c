-- Give back part of a budget slice (slices.ts): the gateway stops drawing from it and keeps only what requests
-- drawn from it still hold. Never touches spent.
-- KEYS[1] reserved:<period>  KEYS[2] resv:amt  KEYS[3] epoch
-- ARGV[1] slice id  ARGV[2] periodKey  ARGV[3] µUSD to give back  ARGV[4] the caller's epoch ('' = any)
-- Returns {1, epoch} | {-1} the caller's epoch is gone (no change): recover, then again.
local epoch = callerEpoch(KEYS[3], ARGV[4])
if not epoch then return {-1} end
shrinkReservation(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return {1, epoch}
