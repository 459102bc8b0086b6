-- Sampled consumer-group positions of subscribers on their share.<subscriber>.* topics: what
-- they actually consumed (committed) against what was delivered (end). Queries read only the
-- last minutes, so the sort key starts with the sample time. Retention 7 days.

CREATE TABLE IF NOT EXISTS {db}.positions
(
    ts           DateTime64(3, 'UTC'),
    subscriber   LowCardinality(String),
    group_id     LowCardinality(String),
    topic        LowCardinality(String),
    partition_id UInt32,
    committed    Int64,
    end_offset   Int64
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, subscriber, group_id, topic, partition_id)
TTL toDateTime(ts) + INTERVAL 7 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;
