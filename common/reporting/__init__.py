"""Reports people read: the HTML report, the Google Sheet, outbound webhooks.

The report step calls `run_sinks` once after writing the CSVs; see
`common.reporting.sinks` for the sink interface and docs/reports.md for the
user-facing rules (Sheet merge, request bound, webhook signatures).
"""

from common.reporting.sinks import ReportContext, ReportSink, SkippedSink, run_sinks
from common.reporting.webhooks import verify_signature

__all__ = ["ReportContext", "ReportSink", "SkippedSink", "run_sinks", "verify_signature"]
