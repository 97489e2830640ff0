-- Recovery KPIs per run broken down by one dimension at a time: `dimension` is
-- 'stall_reason' (the LLM's reason, current_reason), 'conversation_state' (current_state) or
-- 'call_disposition'; `value` is the group ('(none)' when empty). Filter on `dimension` in
-- Looker Studio and chart `value` against the counts.
WITH leads AS (
  SELECT recipe, run_id, run_date, run_started_at, current_reason, current_state, call_attempts, call_disposition, TRUE AS stalled
  FROM {analysis}
  UNION ALL
  SELECT recipe, run_id, run_date, run_started_at, current_reason, current_state, call_attempts, call_disposition, FALSE AS stalled
  FROM {ignored}
),
dimensions AS (
  SELECT *, 'stall_reason' AS dimension, COALESCE(current_reason, '(none)') AS value FROM leads
  UNION ALL
  SELECT *, 'conversation_state' AS dimension, COALESCE(current_state, '(none)') AS value FROM leads
  UNION ALL
  SELECT *, 'call_disposition' AS dimension, COALESCE(call_disposition, '(none)') AS value FROM leads
)
SELECT
  recipe,
  run_id,
  run_date,
  run_started_at,
  dimension,
  value,
  COUNT(*) AS leads,
  COUNTIF(stalled) AS stalled,
  COUNTIF(COALESCE(call_attempts, 0) > 0) AS called,
  COUNTIF(COALESCE(call_disposition, '') IN ('recovered', 'callback_requested', 'not_interested', 'no_decision', 'wrong_number')) AS reached,
  COUNTIF(COALESCE(call_disposition, '') = 'recovered') AS recovered,
  SAFE_DIVIDE(COUNTIF(COALESCE(call_disposition, '') = 'recovered'), COUNT(*)) AS recovery_rate
FROM dimensions
GROUP BY recipe, run_id, run_date, run_started_at, dimension, value
