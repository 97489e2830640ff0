"""Evals: is the recipe's LLM step right on conversations whose answers we know?

- `common.evals.sets`: eval sets (``recipes/<name>/evals/*.yaml|*.jsonl``), one file read
  and validated.
- `common.evals.fields`: the recipe's output fields, and its sets loaded and checked
  against them.
- `common.evals.model`: variants, prepared cases, results and the run that scores them.
- `common.evals.prepare`: processors and digests over the cases, as the pipeline runs them.
- `common.evals.runner`: the recipe's LLM mode over the cases (through the cache), per
  variant (prompt / model).
- `common.evals.judge`: the optional LLM-as-judge of free-text fields.
- `common.evals.scoring`: accuracy and confusion tables, mean absolute error,
  string checks, judge scores, thresholds and the A/B comparison.
- `common.evals.report`: CSV files; `report_text` the terminal tables; `report_html` a
  self-contained HTML page.
- `common.evals.cli`: the ``lead-recovery eval`` command.

See docs/evals.md.
"""
