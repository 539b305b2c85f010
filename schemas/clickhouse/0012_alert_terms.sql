-- What the citizens of a surge ask about: the top terms of the messages of each alert's window against the
-- agency's week before it (pipeline/domain/topics.py), best first, at most 5. The worker computes them when an
-- alert is raised or changes severity and every later transition of the alert carries them.
-- Alerts stored before this migration have none (an empty array), the same as an alert whose messages had
-- no term standing out.
ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS top_terms Array(String) DEFAULT [] AFTER example_ids;
