"""Cloud Function `cluster`: consumes `summarized` and runs `common.steps.cluster`."""

import functions_framework

from common.entrypoints import handle_cloud_event


@functions_framework.cloud_event
def cluster(cloud_event):
    """Pub/Sub CloudEvent → themes of one run's texts (embed, cluster, name), then the report."""
    handle_cloud_event("cluster", cloud_event)
