"""Cloud Function `fetch-leads`: starts a run.

`fetch_leads` is the HTTP target: it takes a run request from
`gcloud functions call fetch-leads --data='{"recipe":"NAME"}'` or curl, and the
Pub/Sub push envelope of the `recipe-runs` subscription (Cloud Scheduler,
`gcloud pubsub topics publish recipe-runs`). `fetch_leads_event` is the same
step behind an Eventarc (CloudEvent) trigger.
"""

import functions_framework

from common.entrypoints import handle_cloud_event, handle_start_http


@functions_framework.http
def fetch_leads(request):
    """POST {"recipe": NAME, ...} or a Pub/Sub push envelope → 200 {"run_id": ...}."""
    return handle_start_http(request)


@functions_framework.cloud_event
def fetch_leads_event(cloud_event):
    """Pub/Sub CloudEvent carrying {"recipe": NAME, ...} → start the run."""
    handle_cloud_event("fetch_leads", cloud_event)
