-- The store's global order is the events table's rowid: SQLite serializes
-- writers and this table is append-only, so rowids grow in commit order.
-- Nothing to change; this file keeps both backends' migration lists alike.
SELECT 1;
