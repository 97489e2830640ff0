-- Messages of one shard's leads. @lead_keys is an ARRAY<STRING> query parameter:
-- never build this list into the SQL text.
SELECT
  message_id,
  lead_key,
  sent_at,
  sender,
  text
FROM demo.messages
WHERE lead_key IN UNNEST(@lead_keys)
  AND sent_at <= @as_of
ORDER BY lead_key, sent_at, message_id
