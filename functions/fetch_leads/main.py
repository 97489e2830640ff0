"""Cloud Function `fetch-leads`: starts a run.

Two entry points over the same step: `fetch_leads` for the `recipe-runs`
Pub/Sub trigger (Cloud Scheduler, `gcloud pubsub topics publish`), and
`fetch_leads_http` for `gcloud functions call` / curl.
"""

import functions_framework

from common.entrypoints import handle_cloud_event, handle_start_http


@functions_framework.cloud_event
def fetch_leads(cloud_event):
    """Pub/Sub CloudEvent carrying {"recipe": NAME, ...} → start the run."""
    handle_cloud_event("fetch_leads", cloud_event)


@functions_framework.http
def fetch_leads_http(request):
    """POST {"recipe": NAME, ...} → 200 {"run_id": ...}."""
    return handle_start_http(request)
