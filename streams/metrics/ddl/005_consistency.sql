-- Consistency figures (a catalog field's `references:` rule — its value must be a key of another
-- resource — looked up by the router in its key index, see streams/key_index.py):
--   refs        values of referencing fields checked (non-null, in after-images)
--   unmatched   of those, not a key of the referenced resource, by problem `reference:<field>`
--               (its sample key in `samples` under the same name; raw rows only: the feedback)
--   mismatched  the daily rollup's sum of `unmatched` over its problems: a second map summed per
--               resource made the 30-day scorecard ~40% slower (bench/metrics)
-- consistency = 1 − mismatched / refs. The daily rollup's view is made again with the two sums:
-- rows inserted while it is re-made (a moment, as the worker starts) miss the rollup.

ALTER TABLE {db}.quality ADD COLUMN IF NOT EXISTS refs UInt64 DEFAULT 0;
ALTER TABLE {db}.quality ADD COLUMN IF NOT EXISTS unmatched Map(String, UInt64);
ALTER TABLE {db}.quality_1d ADD COLUMN IF NOT EXISTS refs SimpleAggregateFunction(sum, UInt64);
ALTER TABLE {db}.quality_1d ADD COLUMN IF NOT EXISTS mismatched SimpleAggregateFunction(sum, UInt64);
DROP VIEW IF EXISTS {db}.quality_1d_mv;

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
    max(src.last_change) AS last_change,
    sum(src.refs) AS refs,
    sum(arraySum(mapValues(src.unmatched))) AS mismatched
FROM {db}.quality AS src
GROUP BY day, department, resource, field_set;
