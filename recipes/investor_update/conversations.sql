-- The last 90 days of the shard's companies' messages (chat and email).
-- @lead_keys is an ARRAY<STRING> query parameter: never build it into the SQL text.
SELECT
  message_id,
  lead_key,
  sent_at,
  sender,
  text
FROM companies.messages
WHERE lead_key IN UNNEST(@lead_keys)
  AND sent_at <= @as_of
  AND sent_at > TIMESTAMP_SUB(@as_of, INTERVAL 90 DAY)
ORDER BY lead_key, sent_at, message_id
