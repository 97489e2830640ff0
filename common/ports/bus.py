"""Bus port: publish a message to a topic."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel


class Bus(Protocol):
    """Delivers messages at least once to the step subscribed to ``topic``."""

    def publish(self, topic: str, message: BaseModel) -> str:
        """Publish ``message`` (JSON) on ``topic``; returns the message id once accepted."""
        ...
