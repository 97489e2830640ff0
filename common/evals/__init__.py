"""Evals: is the recipe's LLM step right on conversations whose answers we know?

- `common.evals.sets`: eval sets (``recipes/<name>/evals/*.yaml|*.jsonl``), validated
  against the recipe when loaded.
- `common.evals.runner`: processors, digests and the recipe's `Analyzer` over the
  cases (through the cache), per variant (prompt / model), plus the optional judge.
- `common.evals.scoring`: accuracy and confusion tables, mean absolute error,
  string checks, judge scores, thresholds and the A/B comparison.
- `common.evals.report`: CSV and a self-contained HTML page.
- `common.evals.cli`: the ``lead-recovery eval`` command.

See docs/evals.md.
"""
