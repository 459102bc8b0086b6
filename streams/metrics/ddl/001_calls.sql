-- Calls (deliveries), withheld records and dead letters: one raw row per routed batch and key,
-- rolled up by materialized views into per-minute, per-hour and per-day AggregatingMergeTree
-- tables. Every query of `sharebus metrics` reads the rollups, never the raw table.
-- `{db}` is replaced by the store's database name. Statements end with ';' at the end of a line.
-- Retention (keep streams/metrics/window.py in step): raw 3 days, per-minute 8 days, per-hour 92
-- days, per-day forever. ttl_only_drop_parts drops whole day/month parts, so a row lives at least
-- its TTL.

CREATE TABLE IF NOT EXISTS {db}.calls
(
    minute       DateTime('UTC'),
    department   LowCardinality(String),
    resource     LowCardinality(String),
    subscriber   LowCardinality(String),
    op           LowCardinality(String),
    outcome      Enum8('delivered' = 1, 'withheld' = 2, 'dead_letter' = 3),
    reason       LowCardinality(String),
    records      UInt64,
    bytes        UInt64,
    latencies_ms Array(Float32),
    inserted_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, department, resource, subscriber, op, outcome, reason)
TTL minute + INTERVAL 3 DAY
-- Every insert carries an insert_deduplication_token (a retry reuses it): stored once, and,
-- with deduplicate_blocks_in_dependent_materialized_views = 1 and the same window on the
-- rollups, rolled up once.
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- Rollups: merges sum the counts and merge the latency states of equal keys; a projection is
-- rebuilt from the merged rows (deduplicate_merge_projection_mode = 'rebuild'), so it always
-- agrees with them.
-- Latency percentiles are weighted: each sample stands for records / len(samples) records, so a
-- 10k-record batch with 200 samples weighs as much as its records, not as much as its samples.
CREATE TABLE IF NOT EXISTS {db}.calls_1m
(
    minute     DateTime('UTC'),
    department LowCardinality(String),
    resource   LowCardinality(String),
    subscriber LowCardinality(String),
    op         LowCardinality(String),
    outcome    Enum8('delivered' = 1, 'withheld' = 2, 'dead_letter' = 3),
    reason     LowCardinality(String),
    records    SimpleAggregateFunction(sum, UInt64),
    bytes      SimpleAggregateFunction(sum, UInt64),
    latency_ms AggregateFunction(quantilesTDigestWeighted(0.5, 0.95, 0.99), Float32, UInt64),
    -- Narrow copies the optimizer reads instead of the wide rows when a query groups by fewer
    -- keys (every query of `sharebus metrics` does): a 24 h query merges one latency state per
    -- subscriber and hour, not one per key and hour.
    PROJECTION by_subscriber
    (
        SELECT minute, subscriber, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY minute, subscriber, outcome, reason
    ),
    PROJECTION by_department
    (
        SELECT minute, department, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY minute, department, outcome, reason
    ),
    PROJECTION by_resource
    (
        SELECT minute, department, resource, outcome, reason, sum(records), sum(bytes)
        GROUP BY minute, department, resource, outcome, reason
    )
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, department, resource, subscriber, op, outcome, reason)
TTL minute + INTERVAL 8 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000,
         deduplicate_merge_projection_mode = 'rebuild';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.calls_1m_mv TO {db}.calls_1m AS
SELECT
    src.minute AS minute, department, resource, subscriber, op, outcome, reason,
    sum(src.records) AS records,
    sum(src.bytes) AS bytes,
    quantilesTDigestWeightedStateArray(0.5, 0.95, 0.99)(
        src.latencies_ms,
        arrayWithConstant(length(src.latencies_ms),
                          toUInt64(greatest(1, intDiv(src.records, greatest(1, length(src.latencies_ms))))))
    ) AS latency_ms
FROM {db}.calls AS src
GROUP BY minute, department, resource, subscriber, op, outcome, reason;

CREATE TABLE IF NOT EXISTS {db}.calls_1h
(
    hour       DateTime('UTC'),
    department LowCardinality(String),
    resource   LowCardinality(String),
    subscriber LowCardinality(String),
    op         LowCardinality(String),
    outcome    Enum8('delivered' = 1, 'withheld' = 2, 'dead_letter' = 3),
    reason     LowCardinality(String),
    records    SimpleAggregateFunction(sum, UInt64),
    bytes      SimpleAggregateFunction(sum, UInt64),
    latency_ms AggregateFunction(quantilesTDigestWeighted(0.5, 0.95, 0.99), Float32, UInt64),
    -- Narrow copies the optimizer reads instead of the wide rows when a query groups by fewer
    -- keys (every query of `sharebus metrics` does): a 24 h query merges one latency state per
    -- subscriber and hour, not one per key and hour.
    PROJECTION by_subscriber
    (
        SELECT hour, subscriber, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY hour, subscriber, outcome, reason
    ),
    PROJECTION by_department
    (
        SELECT hour, department, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY hour, department, outcome, reason
    ),
    PROJECTION by_resource
    (
        SELECT hour, department, resource, outcome, reason, sum(records), sum(bytes)
        GROUP BY hour, department, resource, outcome, reason
    )
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, department, resource, subscriber, op, outcome, reason)
TTL hour + INTERVAL 92 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000,
         deduplicate_merge_projection_mode = 'rebuild';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.calls_1h_mv TO {db}.calls_1h AS
SELECT
    toStartOfHour(src.minute) AS hour, department, resource, subscriber, op, outcome, reason,
    sum(src.records) AS records,
    sum(src.bytes) AS bytes,
    quantilesTDigestWeightedStateArray(0.5, 0.95, 0.99)(
        src.latencies_ms,
        arrayWithConstant(length(src.latencies_ms),
                          toUInt64(greatest(1, intDiv(src.records, greatest(1, length(src.latencies_ms))))))
    ) AS latency_ms
FROM {db}.calls AS src
GROUP BY hour, department, resource, subscriber, op, outcome, reason;

CREATE TABLE IF NOT EXISTS {db}.calls_1d
(
    day        Date,
    department LowCardinality(String),
    resource   LowCardinality(String),
    subscriber LowCardinality(String),
    op         LowCardinality(String),
    outcome    Enum8('delivered' = 1, 'withheld' = 2, 'dead_letter' = 3),
    reason     LowCardinality(String),
    records    SimpleAggregateFunction(sum, UInt64),
    bytes      SimpleAggregateFunction(sum, UInt64),
    latency_ms AggregateFunction(quantilesTDigestWeighted(0.5, 0.95, 0.99), Float32, UInt64),
    -- Narrow copies the optimizer reads instead of the wide rows when a query groups by fewer
    -- keys (every query of `sharebus metrics` does): a 24 h query merges one latency state per
    -- subscriber and hour, not one per key and hour.
    PROJECTION by_subscriber
    (
        SELECT day, subscriber, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY day, subscriber, outcome, reason
    ),
    PROJECTION by_department
    (
        SELECT day, department, outcome, reason, sum(records), sum(bytes),
               quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)
        GROUP BY day, department, outcome, reason
    ),
    PROJECTION by_resource
    (
        SELECT day, department, resource, outcome, reason, sum(records), sum(bytes)
        GROUP BY day, department, resource, outcome, reason
    )
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, department, resource, subscriber, op, outcome, reason)
SETTINGS non_replicated_deduplication_window = 1000, deduplicate_merge_projection_mode = 'rebuild';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.calls_1d_mv TO {db}.calls_1d AS
SELECT
    toDate(src.minute) AS day, department, resource, subscriber, op, outcome, reason,
    sum(src.records) AS records,
    sum(src.bytes) AS bytes,
    quantilesTDigestWeightedStateArray(0.5, 0.95, 0.99)(
        src.latencies_ms,
        arrayWithConstant(length(src.latencies_ms),
                          toUInt64(greatest(1, intDiv(src.records, greatest(1, length(src.latencies_ms))))))
    ) AS latency_ms
FROM {db}.calls AS src
GROUP BY day, department, resource, subscriber, op, outcome, reason;
