"""Bus port: publish a message to a topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel


class Bus(Protocol):
    """Delivers messages at least once to the step subscribed to ``topic``."""

    def publish(self, topic: str, message: BaseModel) -> str:
        """Publish ``message`` (JSON) on ``topic``; returns the message id once accepted."""
        ...

    def publish_many(self, topic: str, messages: Sequence[BaseModel]) -> list[str]:
        """Publish every message on ``topic``, waiting once for all of them (a fan-out).

        Returns the message ids in order. A failure after some were accepted
        raises; the caller's redelivery publishes them all again, which the
        consumers' claims make harmless.
        """
        ...
