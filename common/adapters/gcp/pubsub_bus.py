"""Bus on Pub/Sub: one topic per step transition, JSON bodies, routing facts as attributes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc
from pydantic import BaseModel

from common.errors import TransientError
from common.observability.trace_context import TRACEPARENT, current_traceparent

if TYPE_CHECKING:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

_PUBLISH_TIMEOUT_S = 60.0

# Copied into message attributes so subscriptions, dead-letter triage and logs
# can see which run a message belongs to without decoding the body.
_ATTRIBUTE_FIELDS = ("run_id", "recipe", "schema_version")
# Also ``traceparent`` (W3C) when a step publishes inside its trace: see
# common/observability/trace_context.py.


class PubSubBus:
    """Publishes to ``projects/{project}/topics/{prefix}{topic}``.

    Args:
        project: Project that owns the topics.
        prefix: Prepended to every topic name (isolates environments and tests).
        client: A ready publisher; by default one is built and honours
            ``PUBSUB_EMULATOR_HOST``.
    """

    def __init__(
        self, project: str, prefix: str = "", client: pubsub_v1.PublisherClient | None = None
    ) -> None:
        self.project = project
        self.prefix = prefix
        self._client = client

    @property
    def client(self) -> pubsub_v1.PublisherClient:
        """The publisher, created on first use.

        The client library (about a second of import with gRPC) loads here, so a
        function that publishes nothing on its happy path (the report) never pays it.
        """
        if self._client is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            self._client = pubsub_v1.PublisherClient()
        return self._client

    def topic_path(self, topic: str) -> str:
        """Full resource name of ``topic`` (prefix applied)."""
        return f"projects/{self.project}/topics/{self.prefix}{topic}"

    def publish(self, topic: str, message: BaseModel) -> str:
        """Publish ``message`` as JSON and wait until Pub/Sub accepted it.

        Returns:
            The server-assigned message id.

        Raises:
            TransientError: publishing failed or timed out (the caller's own
                message is then redelivered and the publish retried).
        """
        return self.publish_many(topic, [message])[0]

    def publish_many(self, topic: str, messages: Sequence[BaseModel]) -> list[str]:
        """Publish all ``messages``, then wait for every one (the client batches them).

        Waiting for each in turn cost one round trip per shard: a 2,000-shard
        fan-out would spend most of a minute publishing.
        """
        path = self.topic_path(topic)
        try:
            futures = []
            for message in messages:
                data, attributes = _payload(message)
                futures.append(self.client.publish(path, data, **attributes))
            return [str(f.result(timeout=_PUBLISH_TIMEOUT_S)) for f in futures]
        except gexc.NotFound as err:
            # A missing topic is a deployment mistake, but the step's work is
            # done and only the hand-off failed: redelivery after the fix
            # completes the run, whereas acknowledging would strand it.
            raise TransientError(f"topic not found: {err.message}", where=path) from err
        except Exception as err:
            raise TransientError(f"publish failed: {err}", where=path) from err

    def ensure_topics(self, names: Iterable[str]) -> list[str]:
        """Create the (prefixed) topics that do not exist yet; for local and emulator setups.

        Deployed topics come from Terraform; this is never called there.
        """
        paths = []
        for name in names:
            path = self.topic_path(name)
            try:
                self.client.create_topic(name=path)
            except gexc.AlreadyExists:
                pass
            paths.append(path)
        return paths


def _payload(message: BaseModel) -> tuple[bytes, dict[str, str]]:
    """The JSON bytes (as `common.messages.encode` writes them) and the attributes."""
    data = message.model_dump_json(exclude_none=True).encode()
    attributes = {
        name: str(value)
        for name in _ATTRIBUTE_FIELDS
        if (value := getattr(message, name, None)) is not None
    }
    # The run's trace, so the next step logs under the same trace (one trace per run).
    if (parent := current_traceparent()) is not None:
        attributes[TRACEPARENT] = parent
    return data, attributes
