-- The needs-a-reply verdict of each citizen message (pipeline/domain/needs_reply.py), written by the worker as it
-- stores the message: whether it asks for an answer (a question, request, complaint, report of a problem or an
-- emergency), the cue that decided (its reason), and the message's language (ms, en, mixed). Agency rows are
-- false with no reason.
-- Messages stored before this migration were never classified: they default to needing a reply, which is how
-- every message counted before (their needs_reply_rate is their reply rate), and have an empty reason and language.
ALTER TABLE {db}.interactions ADD COLUMN IF NOT EXISTS needs_reply Bool DEFAULT true AFTER kafka_partition;
ALTER TABLE {db}.interactions ADD COLUMN IF NOT EXISTS needs_reply_reason LowCardinality(String) DEFAULT '' AFTER needs_reply;
ALTER TABLE {db}.interactions ADD COLUMN IF NOT EXISTS language LowCardinality(String) DEFAULT '' AFTER needs_reply_reason;

-- The rollups count, per day and hour, the citizen messages that need a reply, and of them the answered and the
-- open ones (the hour rows also keep each open one's time, to tell pending from overdue at a window's end), so the
-- report's needs_reply_messages and needs_reply_rate read rollups like its other figures. Builds made before these
-- columns existed read 0 here: the rollups' format number (ROLLUP_FORMAT in pipeline/storage/sql/fragments.py) is
-- part of every build's directory hash, so readers treat those builds as stale (raw data) until re-derived.
ALTER TABLE {db}.day_rollup ADD COLUMN IF NOT EXISTS needs_reply_messages UInt64 DEFAULT 0;
ALTER TABLE {db}.day_rollup ADD COLUMN IF NOT EXISTS needs_reply_answered UInt64 DEFAULT 0;
ALTER TABLE {db}.day_rollup ADD COLUMN IF NOT EXISTS needs_reply_unanswered UInt64 DEFAULT 0;
ALTER TABLE {db}.hour_rollup ADD COLUMN IF NOT EXISTS needs_reply_messages UInt64 DEFAULT 0;
ALTER TABLE {db}.hour_rollup ADD COLUMN IF NOT EXISTS needs_reply_answered UInt64 DEFAULT 0;
ALTER TABLE {db}.hour_rollup ADD COLUMN IF NOT EXISTS needs_reply_unanswered UInt64 DEFAULT 0;
ALTER TABLE {db}.hour_rollup ADD COLUMN IF NOT EXISTS needs_reply_unanswered_at Array(DateTime64(3, 'UTC')) DEFAULT [];

-- The views' raw slices now read needs_reply too: the time-sorted projection of migration 0007 must hold it, or
-- those reads would scan the table sorted by account. A projection cannot be changed: add the new one, fill it,
-- then drop the old (reads keep a time-sorted projection throughout: the fill is a mutation, asynchronous unless
-- waited for, so the migration waits for it on every replica before dropping the old one).
ALTER TABLE {db}.interactions ADD PROJECTION IF NOT EXISTS by_time_needs_reply
    (SELECT agency_id, account_id, platform, message_id, created_at, event_id, author_role, parent_id, needs_reply
     ORDER BY created_at);
ALTER TABLE {db}.interactions MATERIALIZE PROJECTION by_time_needs_reply SETTINGS mutations_sync = 2;
ALTER TABLE {db}.interactions DROP PROJECTION IF EXISTS by_time;
