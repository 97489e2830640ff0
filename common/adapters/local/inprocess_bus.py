"""Bus as an in-process FIFO queue; `drain` delivers each message to its step."""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
        self._lock = threading.Lock()
        self.published: list[Delivery] = []

    def publish(self, topic: str, message: BaseModel) -> str:
        """Enqueue ``message`` for ``topic`` (safe from several threads)."""
        data = encode(message)  # type: ignore[arg-type]
        with self._lock:
            delivery = Delivery(topic, data, f"local-{next(self._ids)}")
            self._queue.append(delivery)
            self.published.append(delivery)
        return delivery.message_id

    def publish_many(self, topic: str, messages: Sequence[BaseModel]) -> list[str]:
        """Enqueue every message, in order."""
        return [self.publish(topic, m) for m in messages]

    def redeliver(self, delivery: Delivery) -> None:
        """Queue a delivery again (what Pub/Sub does after a nack), same message id."""
        self._queue.append(delivery)

    def pending(self) -> int:
        """Messages not yet delivered."""
        return len(self._queue)

    def drain(self, dispatch: Callable[[Delivery], None], *, workers: int = 1) -> int:
        """Deliver queued messages (including ones published meanwhile) in FIFO order.

        With ``workers`` > 1, up to that many deliveries run at once on threads,
        as several function instances would take a topic's messages (the steps
        are idempotent and their state is transactional). The first exception a
        dispatch raises stops the drain (after the running ones end) and is
        raised here.
        """
        if workers <= 1:
            delivered = 0
            while self._queue:
                dispatch(self._queue.popleft())
                delivered += 1
            return delivered
        delivered = 0
        running: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bus") as pool:
            while True:
                while self._queue and len(running) < workers:
                    running.add(pool.submit(dispatch, self._queue.popleft()))
                if not running:
                    return delivered
                done, running = wait(running, return_when=FIRST_COMPLETED)
                delivered += len(done)
                for future in done:
                    if future.exception() is not None:
                        wait(running)
                        future.result()
