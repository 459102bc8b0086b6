-- Quality figures: one raw row per resource and minute (the router sums its delivered batches
-- per second), rolled up per day, kept forever: the scorecard (`sharebus quality scorecard`) reads
-- the daily rollup only. Every figure is exact (sums, maxima), none is sampled:
--   seen            change events of the resource (heartbeats are no resource's)
--   invalid         of those, dead-lettered, by check (envelope, key, required, type, code, ...)
--   samples         per check, the key of one failing record, masked by the router as its fields
--                   may be shown (the departments' feedback; raw rows only)
--   images          after-images (creates, updates, snapshot reads) completeness counts over
--   fields          the resource's fields, in catalog order (a catalog change starts a new set)
--   nonnull         per field of `fields`, after-images holding a value
--   filled, weight  Σ over after-images of the weights of their filled fields, of all their
--                   fields (key and required 2, optional 1): completeness = filled / weight
--   routed          events with a source commit time: timeliness counts over them
--   late            of those, acknowledged by Kafka more than 60 s after the commit
--   latency_ms_sum  sum of (acknowledged − committed) over `routed`
--   last_change     the newest source commit time seen (freshness)
-- Retention: raw 3 days (ttl_only_drop_parts: whole day parts), daily forever.
-- Per-field counts are positional arrays summed element-wise (sumForEach) within one field set
-- (`field_set`, a hash of `fields`, is part of the key): summing name → count maps (sumMap) made
-- the 30-day scorecard of 4,154 resources ~4× slower (bench/metrics).

CREATE TABLE IF NOT EXISTS {db}.quality
(
    minute         DateTime('UTC'),
    department     LowCardinality(String),
    resource       LowCardinality(String),
    seen           UInt64,
    invalid        Map(String, UInt64),
    samples        Map(String, String),
    images         UInt64,
    fields         Array(String),
    nonnull        Array(UInt64),
    filled         UInt64,
    weight         UInt64,
    routed         UInt64,
    late           UInt64,
    latency_ms_sum UInt64,
    last_change    DateTime64(3, 'UTC'),
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, department, resource)
TTL minute + INTERVAL 3 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.quality_1d
(
    day            Date,
    department     LowCardinality(String),
    resource       LowCardinality(String),
    seen           SimpleAggregateFunction(sum, UInt64),
    invalid        SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    images         SimpleAggregateFunction(sum, UInt64),
    field_set      UInt64,
    fields         SimpleAggregateFunction(any, Array(String)),
    nonnull        AggregateFunction(sumForEach, Array(UInt64)),
    filled         SimpleAggregateFunction(sum, UInt64),
    weight         SimpleAggregateFunction(sum, UInt64),
    routed         SimpleAggregateFunction(sum, UInt64),
    late           SimpleAggregateFunction(sum, UInt64),
    latency_ms_sum SimpleAggregateFunction(sum, UInt64),
    last_change    SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, department, resource, field_set)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.quality_1d_mv TO {db}.quality_1d AS
SELECT
    toDate(src.minute) AS day, department, resource, cityHash64(src.fields) AS field_set,
    sum(src.seen) AS seen,
    sumMap(src.invalid) AS invalid,
    sum(src.images) AS images,
    any(src.fields) AS fields,
    sumForEachState(src.nonnull) AS nonnull,
    sum(src.filled) AS filled,
    sum(src.weight) AS weight,
    sum(src.routed) AS routed,
    sum(src.late) AS late,
    sum(src.latency_ms_sum) AS latency_ms_sum,
    max(src.last_change) AS last_change
FROM {db}.quality AS src
GROUP BY day, department, resource, field_set;
