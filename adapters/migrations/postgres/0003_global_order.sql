-- The store's global order: every event gets a position when it is inserted.
-- The insert takes a transaction-scoped advisory lock first, so transactions
-- that write events commit one after another and positions become visible in
-- order: a reader that has seen position N never later finds a smaller one.
-- Each insert notifies `sockt_events` (delivered on commit) so other
-- processes catch up at once instead of at their next poll.
ALTER TABLE events ADD COLUMN IF NOT EXISTS position bigint;
CREATE SEQUENCE IF NOT EXISTS events_position;
UPDATE events SET position = nextval('events_position') WHERE position IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_position ON events (position);

CREATE OR REPLACE FUNCTION sockt_event_position() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7314160001);
    NEW.position := nextval('events_position');
    PERFORM pg_notify('sockt_events', '');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_position ON events;
CREATE TRIGGER events_position BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION sockt_event_position();
