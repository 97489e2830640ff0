"""Cloud Function `process`: consumes its Pub/Sub topic and runs `common.steps.process`."""

import functions_framework

from common.entrypoints import handle_cloud_event


@functions_framework.cloud_event
def process(cloud_event):
    """Pub/Sub CloudEvent → step; terminal errors are acknowledged, others retried."""
    handle_cloud_event("process", cloud_event)
