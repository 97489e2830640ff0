"""Cloud Function `report`: consumes its Pub/Sub topic and runs `common.steps.report`."""

import functions_framework

from common.entrypoints import handle_cloud_event


@functions_framework.cloud_event
def report(cloud_event):
    """Pub/Sub CloudEvent → step; terminal errors are acknowledged, others retried."""
    handle_cloud_event("report", cloud_event)
