-- Target leads: created in the 30 days before the run (@as_of), one row per lead.
-- BigQuery dialect; locally it runs on DuckDB over data/sample/demo/*.parquet.
SELECT
  lead_key,
  name,
  country,
  timezone,
  language,
  product,
  preapproved_amount,
  campaign,
  lead_created_at
FROM demo.leads
WHERE lead_created_at >= TIMESTAMP_SUB(@as_of, INTERVAL 30 DAY)
  AND lead_created_at <= @as_of
ORDER BY lead_key
