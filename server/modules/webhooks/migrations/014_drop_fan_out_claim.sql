-- The claim riding with the fan-out (013) is withdrawn with the events dispatcher's
-- own-event path it came with: at 1,000 events/s they removed the lease and the claim
-- round trips, but the fan-out grew by its claim (the advisory lock waited for the
-- pump's and the result writer's claims) and a process's own events waited for a
-- dispatch pass instead of being leased by one already on its way, so commit -> first
-- attempt stayed the same (p50 13.5 vs 12.9 ms, 17 vs 16 ms delivered, traced at load
-- 2.5) and the quick bench's p50 did not move in 9 alternated pairs.
DROP FUNCTION webhooks_fan_out_claim(text[], text[], text[], text[], text[], timestamptz[], integer,
  integer, integer, integer, text[]);
