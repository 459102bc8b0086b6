-- Tables every captured department database carries for the bus itself:
-- the Debezium signal channel (incremental snapshots) and the heartbeat action query's target
-- (keeps a quiet database from retaining WAL in its replication slot).
CREATE SCHEMA IF NOT EXISTS sharebus;
CREATE TABLE IF NOT EXISTS sharebus.debezium_signal (
    id      varchar(64)   PRIMARY KEY,
    type    varchar(32)   NOT NULL,
    data    varchar(4096)
);
CREATE TABLE IF NOT EXISTS sharebus.heartbeat (
    id      int           PRIMARY KEY,
    ts      timestamptz   NOT NULL
);
