"""Cloud Function `summarize`: consumes `processed` and runs `common.steps.summarize`.

`summarize_http` is the same analysis for one lead or a list, answered
synchronously over authenticated HTTP (deployed as `summarize-http`).
"""

import functions_framework

from common.entrypoints import handle_analyze, handle_cloud_event


@functions_framework.cloud_event
def summarize(cloud_event):
    """Pub/Sub CloudEvent → structured LLM analysis of one shard."""
    handle_cloud_event("summarize", cloud_event)


@functions_framework.http
def summarize_http(request):
    """POST {"recipe": ..., "leads": [...]} with a Bearer token → structured results."""
    return handle_analyze(request)
