-- Nothing reads events by account (the dispatcher reads by id and pending,
-- replay by time and type): the index cost every event an insert, and every
-- dispatch mark another (it is not a HOT update: dispatched_at is in the
-- pending index's predicate).
DROP INDEX events_org_idx;
