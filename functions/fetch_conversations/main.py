"""Cloud Function `fetch-conversations`: consumes its Pub/Sub topic and runs `common.steps.fetch_conversations`."""

import functions_framework

from common.entrypoints import handle_cloud_event


@functions_framework.cloud_event
def fetch_conversations(cloud_event):
    """Pub/Sub CloudEvent → step; terminal errors are acknowledged, others retried."""
    handle_cloud_event("fetch_conversations", cloud_event)
