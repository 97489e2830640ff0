-- Each lead's trajectory: one row per lead per run (analysed or ignored), oldest first.
SELECT
  recipe,
  lead_key,
  run_id,
  run_started_at,
  first_seen_run,
  current_state AS state,
  current_reason AS reason,
  current_score AS score,
  previous_state,
  previous_score,
  `change`,
  call_attempts,
  call_disposition,
  CAST(NULL AS STRING) AS ignore_reason
FROM {analysis}
UNION ALL
SELECT
  recipe, lead_key, run_id, run_started_at, first_seen_run, current_state, current_reason,
  current_score, previous_state, previous_score, `change`, call_attempts, call_disposition,
  ignore_reason
FROM {ignored}
