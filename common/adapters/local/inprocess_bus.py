"""Bus as an in-process FIFO queue; `drain` delivers each message to its step."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from common.messages import encode


@dataclass(frozen=True)
class Delivery:
    """One queued message, as a push subscription would deliver it."""

    topic: str
    data: bytes
    message_id: str


class InProcessBus:
    """Publishing enqueues; `drain` hands messages to a dispatcher until the queue is empty."""

    def __init__(self) -> None:
        self._queue: collections.deque[Delivery] = collections.deque()
        self._ids = itertools.count(1)
        self.published: list[Delivery] = []

    def publish(self, topic: str, message: BaseModel) -> str:
        """Enqueue ``message`` for ``topic``."""
        delivery = Delivery(topic, encode(message), f"local-{next(self._ids)}")  # type: ignore[arg-type]
        self._queue.append(delivery)
        self.published.append(delivery)
        return delivery.message_id

    def redeliver(self, delivery: Delivery) -> None:
        """Queue a delivery again (what Pub/Sub does after a nack), same message id."""
        self._queue.append(delivery)

    def pending(self) -> int:
        """Messages not yet delivered."""
        return len(self._queue)

    def drain(self, dispatch: Callable[[Delivery], None]) -> int:
        """Deliver queued messages (including ones published meanwhile) in FIFO order."""
        delivered = 0
        while self._queue:
            dispatch(self._queue.popleft())
            delivered += 1
        return delivered
