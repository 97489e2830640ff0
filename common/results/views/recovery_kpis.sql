-- Recovery KPIs per recipe and run: one row per run, in run order (Looker Studio: a time series
-- on run_started_at). Leads = analysed + ignored (a recovered lead is ignored by recipes that
-- exclude it from the call list, and still counts as recovered).
-- stalled: leads still in the analysis; called: at least one call attempt; reached: someone
-- answered; recovered: the last call's disposition is `recovered`.
WITH leads AS (
  SELECT recipe, run_id, run_date, run_started_at, call_attempts, call_disposition, TRUE AS stalled
  FROM {analysis}
  UNION ALL
  SELECT recipe, run_id, run_date, run_started_at, call_attempts, call_disposition, FALSE AS stalled
  FROM {ignored}
)
SELECT
  recipe,
  run_id,
  run_date,
  run_started_at,
  COUNT(*) AS leads,
  COUNTIF(stalled) AS stalled,
  COUNTIF(COALESCE(call_attempts, 0) > 0) AS called,
  COUNTIF(COALESCE(call_disposition, '') IN ('recovered', 'callback_requested', 'not_interested', 'no_decision', 'wrong_number')) AS reached,
  COUNTIF(COALESCE(call_disposition, '') = 'recovered') AS recovered,
  SAFE_DIVIDE(COUNTIF(COALESCE(call_disposition, '') = 'recovered'), COUNT(*)) AS recovery_rate,
  SAFE_DIVIDE(COUNTIF(COALESCE(call_disposition, '') = 'recovered'), COUNTIF(COALESCE(call_attempts, 0) > 0)) AS called_recovery_rate
FROM leads
GROUP BY recipe, run_id, run_date, run_started_at
