"""Cloud Function `poll_batches`: collects ended LLM provider batches (Cloud Scheduler calls it every few minutes).

The same as `lead-recovery batches poll --backend gcp`: for every shard waiting
on a provider batch (`llm.batch`), it asks the provider how the batch stands,
writes an ended batch's answers beside the shard's batch state and publishes
the shard's message again, so summarize settles the answers and finishes (see
`common.steps.batches`).
"""

import functions_framework

from common.entrypoints import handle_poll_batches_http


@functions_framework.http
def poll_batches(request):
    """POST (any body) → 200 with what was done."""
    return handle_poll_batches_http(request)
