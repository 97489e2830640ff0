"""Cloud Function `sweep`: finishes runs stuck in `running` (Cloud Scheduler calls it every few minutes).

The same as `lead-recovery runs sweep --backend gcp`: shards stuck past their
lease are recorded as failed and counted, so the report runs and the run ends
`partial` (see `common.steps.sweep`).
"""

import functions_framework

from common.entrypoints import handle_sweep_http


@functions_framework.http
def sweep(request):
    """POST (any body) → 200 with what was done."""
    return handle_sweep_http(request)
