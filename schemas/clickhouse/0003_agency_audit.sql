-- Every registration of an agency after start-up (not from the directory file), accepted or refused:
-- who (source: the API or an in-process import; actor: the API client's address or the pid), when,
-- what (action and the agency's full definition as JSON). Append-only: rows are never replaced.
CREATE TABLE IF NOT EXISTS {db}.agency_audit
(
    at          DateTime64(3, 'UTC'),
    agency_id   String,
    action      LowCardinality(String),
    source      LowCardinality(String),
    actor       String,
    definition  String
)
ENGINE = MergeTree
ORDER BY (agency_id, at);
