-- What citizens ask each agency about, as the worker last computed it (pipeline/runtime/listening.py): the topics of
-- pipeline/domain/topics.py are found in Python (its normaliser is Python), which Grafana cannot run, so the leader
-- worker materialises two ranked lists per agency every SERAMBI_LISTENING_INTERVAL_SECONDS:
--   list 'week'   what citizens ask about this week: the last 7 days against the 4 weeks before
--                 (`serambi listen topics`' defaults), best score first;
--   list 'rising' rising pain points: the messages still unanswered of the last 24 h against the 4 days before,
--                 only terms that rose against the day before, by rise then score.
-- Each computation writes rank 0 (term '', count = the list's messages, unanswered = of them unanswered), then one
-- row per topic from rank 1, so a computation that found nothing still replaces an older one for the readers
-- (pipeline/storage/sql/listening.py reads each agency's latest computation).
-- computed_at is the computation's slot (the interval's start), so two workers computing one slot (a rebalance)
-- write the same keys and ReplacingMergeTree keeps one row each. examples are already redacted by the domain
-- (no links, handles or pseudonyms). Small (tens of rows per agency and slot) and kept 30 days.
CREATE TABLE IF NOT EXISTS {db}.citizen_topics
(
    agency_id    LowCardinality(String),
    list         LowCardinality(String),
    computed_at  DateTime64(3, 'UTC'),
    rank         UInt16,
    term         String,
    score        Float64,
    count        UInt32,
    unanswered   UInt32,
    rise         Int32,
    examples     Array(String),
    inserted_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(computed_at)
ORDER BY (agency_id, list, computed_at, rank)
TTL toDateTime(computed_at) + INTERVAL 30 DAY DELETE;
