-- Audit events (ACL grants and revokes, credential changes, withheld-data decisions), one row per
-- record of the audit topic, counted by `sharebus metrics audit`. The worker tails the topic and
-- resumes after the highest (topic, topic id, partition) offset stored here; `ts` is the event's
-- `at`, `count` its count (records withheld; 1 for an ACL or credential change).
-- ReplacingMergeTree keyed by the source offset: an event ingested twice (several workers sharing
-- a ClickHouse server each tail the topic) is one row once merged, and queries read FINAL, so it
-- counts once before that too. Kept as long as the audit topic keeps its records (forever):
-- no TTL, which would also drop the offsets ingestion resumes from. Not partitioned, so one
-- insert is one part: stored whole or not at all (what is stored is a prefix of what was read).

CREATE TABLE IF NOT EXISTS {db}.audit_events
(
    ts              DateTime64(3, 'UTC'),
    action          LowCardinality(String),
    subject         String,
    target          String,
    catalog_version LowCardinality(String),
    count           UInt64,
    topic           LowCardinality(String),
    topic_id        LowCardinality(String),
    partition_id    UInt32,
    source_offset   Int64,
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (ts, topic, topic_id, partition_id, source_offset)
SETTINGS non_replicated_deduplication_window = 1000;
