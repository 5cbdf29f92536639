-- The store's global order: every event gets a position when it is inserted.
-- SQLite runs one writer at a time, so max + 1 assigned inside the insert's
-- own transaction is the commit order. (The rowid is not used: VACUUM may
-- renumber it.)
ALTER TABLE events ADD COLUMN position integer;
UPDATE events SET position = rowid WHERE position IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_position ON events (position);

CREATE TRIGGER IF NOT EXISTS events_position AFTER INSERT ON events
    FOR EACH ROW WHEN NEW.position IS NULL
BEGIN
    UPDATE events
       SET position = (SELECT COALESCE(MAX(position), 0) + 1 FROM events)
     WHERE rowid = NEW.rowid;
END;
