-- The identity of this store: containers are labelled with it, so servers
-- with different stores on one Docker engine never touch each other's.
CREATE TABLE IF NOT EXISTS sockt_instance (id text PRIMARY KEY NOT NULL) STRICT;
