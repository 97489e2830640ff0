-- Portfolio companies (one row per company; lead_key is the company id).
-- BigQuery dialect; locally it runs on DuckDB over data/sample/companies/*.parquet.
SELECT
  lead_key,
  company,
  sector,
  contact_name,
  country,
  lead_created_at
FROM companies.leads
WHERE lead_created_at <= @as_of
ORDER BY lead_key
