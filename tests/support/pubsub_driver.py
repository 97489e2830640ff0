"""Drive the deployed-style chain on the Pub/Sub emulator: pull, deliver to functions, ack.

Each topic of the chain gets a pull subscription. Pulled messages are turned
into the CloudEvents Eventarc would send and posted to the real function
handlers through functions-framework's app, so the code path is the one a
Cloud Function runs. The driver can deliver each message several times and in
shuffled order, to prove the steps idempotent.

With ``max_delivery_attempts`` it also plays a dead-letter policy: each
delivery carries ``deliveryAttempt`` (1, 2, ...), a failed message is nacked so
it comes back at once, and after that many failed rounds it is acknowledged
(dead-lettered). With ``raw_push`` it posts the wrapped push JSON our push
subscriptions send (functions-framework converts it), not a CloudEvent.
"""

from __future__ import annotations

import base64
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from common import chain

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Pulled:
    """A pulled message with what a push delivery would carry."""

    step: str
    topic: str
    subscription: str
    ack_id: str
    message_id: str
    data: bytes
    publish_time: str
    attributes: dict[str, str]


class ChainDriver:
    """Topics, subscriptions and function apps for one test's chain."""

    def __init__(
        self,
        project: str,
        prefix: str,
        *,
        max_delivery_attempts: int | None = None,
        raw_push: bool = False,
    ) -> None:
        self.project = project
        self.prefix = prefix
        self.max_delivery_attempts = max_delivery_attempts
        self.raw_push = raw_push
        self.failed_rounds: dict[str, int] = {}  # message id -> rounds it failed
        self.dead_lettered: list[Pulled] = []
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscriptions: dict[str, str] = {}
        self.apps: dict[str, Any] = {}
        self.deliveries: list[tuple[str, str, int]] = []
        for stage in chain.STAGES:
            if not stage.available:
                continue
            topic = self.publisher.topic_path(project, prefix + stage.topic)
            sub = self.subscriber.subscription_path(project, f"{prefix}{stage.topic}-{stage.name}")
            try:
                self.publisher.create_topic(name=topic)
            except gexc.AlreadyExists:
                pass
            self.subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=60)
            self.subscriptions[stage.name] = sub
            if max_delivery_attempts is not None:  # as infra/pubsub.tf: where steps dead-letter
                dead = self.publisher.topic_path(
                    project, prefix + chain.dead_letter_topic(stage.topic)
                )
                try:
                    self.publisher.create_topic(name=dead)
                except gexc.AlreadyExists:
                    pass

    def app(self, step: str) -> Any:
        """The functions-framework test client of a step's Cloud Function."""
        if step not in self.apps:
            source = REPO / "functions" / step / "main.py"
            # fetch-leads is an HTTP function fed by a push subscription; the others
            # are CloudEvent functions behind Eventarc Pub/Sub triggers.
            kind = "http" if step == "fetch_leads" else "cloudevent"
            app = functions_framework.create_app(
                target=step, source=str(source), signature_type=kind
            )
            self.apps[step] = app.test_client()
        return self.apps[step]

    def pull(self) -> list[Pulled]:
        """Everything currently waiting on every subscription."""
        out: list[Pulled] = []
        for step, sub in self.subscriptions.items():
            response = self.subscriber.pull(
                request={"subscription": sub, "max_messages": 1000, "return_immediately": True},
                timeout=10,
            )
            for received in response.received_messages:
                msg = received.message
                out.append(
                    Pulled(
                        step=step,
                        topic=chain.BY_NAME[step].topic,
                        subscription=sub,
                        ack_id=received.ack_id,
                        message_id=msg.message_id,
                        data=msg.data,
                        publish_time=msg.publish_time.isoformat(),
                        attributes=dict(msg.attributes),
                    )
                )
        return out

    def deliver(self, pulled: Pulled) -> int:
        """POST the message as a Pub/Sub CloudEvent to its function; returns the HTTP status."""
        attempt = (
            self.failed_rounds.get(pulled.message_id, 0) + 1
            if self.max_delivery_attempts is not None
            else None
        )
        event = {
            "specversion": "1.0",
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": f"//pubsub.googleapis.com/projects/{self.project}/topics/{self.prefix}{pulled.topic}",
            "id": pulled.message_id,
            "time": pulled.publish_time,
            "datacontenttype": "application/json",
            "data": {
                "message": {
                    "data": base64.b64encode(pulled.data).decode(),
                    "messageId": pulled.message_id,
                    "publishTime": pulled.publish_time,
                    "attributes": pulled.attributes,
                },
                "subscription": pulled.subscription,
            },
        }
        if attempt is not None:
            event["data"]["deliveryAttempt"] = attempt  # type: ignore[index]
        if pulled.step == "fetch_leads" or self.raw_push:
            response = self.app(pulled.step).post("/", json=event["data"])
        else:
            response = self.app(pulled.step).post(
                "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
            )
        self.deliveries.append((pulled.step, pulled.message_id, response.status_code))
        return response.status_code

    def ack(self, pulled: Pulled) -> None:
        """Acknowledge a pulled message."""
        self.subscriber.acknowledge(
            request={"subscription": pulled.subscription, "ack_ids": [pulled.ack_id]}
        )

    def run_until_idle(
        self,
        *,
        copies: int = 1,
        shuffle: random.Random | None = None,
        max_rounds: int = 200,
        workers: int = 1,
    ) -> list[Pulled]:
        """Pull and deliver until no message is waiting; returns every message seen.

        Args:
            copies: How many times each message is delivered (at-least-once).
            shuffle: When given, each round's deliveries are shuffled with it.
            max_rounds: Safety stop.
            workers: Deliveries in flight at once (concurrent requests of an instance).
        """
        seen: list[Pulled] = []
        idle = 0
        for _ in range(max_rounds):
            batch = self.pull()
            if not batch:
                idle += 1
                if idle >= 3:
                    return seen
                continue
            idle = 0
            seen.extend(batch)
            plan = [p for p in batch for _ in range(copies)]
            if shuffle is not None:
                shuffle.shuffle(plan)
            ok: dict[str, bool] = {}
            if workers > 1:
                with ThreadPoolExecutor(workers) as pool:
                    statuses = list(pool.map(self.deliver, plan))
            else:
                statuses = [self.deliver(pulled) for pulled in plan]
            for pulled, status in zip(plan, statuses, strict=True):
                ok[pulled.ack_id] = ok.get(pulled.ack_id, False) or status < 300
            for pulled in batch:
                if ok[pulled.ack_id]:
                    self.ack(pulled)
                elif self.max_delivery_attempts is not None:
                    failed = self.failed_rounds.get(pulled.message_id, 0) + 1
                    self.failed_rounds[pulled.message_id] = failed
                    if failed >= self.max_delivery_attempts:
                        self.dead_lettered.append(pulled)  # as Pub/Sub's dead-letter policy
                        self.ack(pulled)
                    else:
                        self.subscriber.modify_ack_deadline(  # nack: redeliver now
                            request={
                                "subscription": pulled.subscription,
                                "ack_ids": [pulled.ack_id],
                                "ack_deadline_seconds": 0,
                            }
                        )
        raise AssertionError("the chain did not go idle")
