-- Checkpoints of read models: their state and the global position of the
-- last event in it, so a starting process catches up from there.
CREATE TABLE IF NOT EXISTS projection_checkpoints
(
    name       text PRIMARY KEY NOT NULL,
    position   bigint           NOT NULL,
    payload    text             NOT NULL,
    written_ms bigint           NOT NULL
);
