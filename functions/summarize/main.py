"""Cloud Function `summarize`: consumes `processed` and runs `common.steps.summarize`."""

import functions_framework

from common.entrypoints import handle_cloud_event


@functions_framework.cloud_event
def summarize(cloud_event):
    """Pub/Sub CloudEvent → structured LLM analysis of one shard."""
    handle_cloud_event("summarize", cloud_event)
