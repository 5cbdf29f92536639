-- Snapshots written before this version could miss the later events of a
-- commit of several events that crossed a snapshot boundary (cqrs-es's
-- snapshot store re-applied the commit's events and stopped at the
-- boundary while recording the commit's last sequence). Snapshots are a
-- cache of the events: drop them; loads replay the streams and the next
-- commits write correct ones.
DELETE FROM snapshots;
