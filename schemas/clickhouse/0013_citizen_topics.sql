-- What citizens ask each agency about, as the worker last computed it (pipeline/runtime/listening.py): the topics of
-- pipeline/domain/topics.py are found in Python (its normaliser is Python), which Grafana cannot run, so the leader
-- worker materialises two ranked lists per agency every SERAMBI_LISTENING_INTERVAL_SECONDS:
--   list 'week'   what citizens ask about this week: the last 7 days against the 4 weeks before
--                 (`serambi listen topics`' defaults), best score first;
--   list 'rising' rising pain points: messages that need a reply still unanswered at the end of the last 24 h
--                 against those of the 4 days before (each unanswered at the end of its day), only terms that
--                 rose against the day before, by rise then score.
-- Each computation writes rank 0 (term '', count = the list's messages, unanswered = of them unanswered), then one
-- row per topic from rank 1, so a computation that found nothing still replaces an older one for the readers
-- (pipeline/storage/sql/listening.py reads each agency's latest computation).
-- computed_at is when the lists were computed (their windows end then): each computation has keys of its own, so a
-- reader taking an agency's latest computation never mixes two (two workers leading for a moment during a
-- rebalance write two computations; the later one is shown). A computation identical to the agency's previous one
-- is not stored again within the hour. examples are already redacted by the domain (no links, e-mail addresses,
-- handles or pseudonyms). At most 22 rows per agency and computation (every SERAMBI_LISTENING_INTERVAL_SECONDS),
-- kept 7 days: the board and Grafana show the latest.
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
TTL toDateTime(computed_at) + INTERVAL 7 DAY DELETE;
