"""Bus contract: what a step publishes is what the next step receives, on both backends.

``[local]`` receives through `InProcessBus.drain`; ``[gcp]`` through a pull
subscription on the Pub/Sub emulator, created before publishing (Pub/Sub only
delivers messages published after a subscription exists).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from common.backends import build_backends
from common.errors import TransientError
from common.messages import RunMessage, RunOptions, ShardMessage, decode
from common.ports import Bus
from common.settings import get_settings

TOPIC = "leads-fetched"


@dataclass(frozen=True)
class Received:
    data: bytes
    attributes: dict[str, str] | None  # None: the backend has no attributes


class LocalReceiver:
    def __init__(self, bus: Any) -> None:
        self.bus = bus

    def subscribe(self, topic: str) -> None:
        pass

    def receive(self, topic: str, count: int) -> list[Received]:
        got: list[Received] = []
        self.bus.drain(lambda d: got.append(Received(d.data, None)) if d.topic == topic else None)
        return got


class PubSubReceiver:
    def __init__(self, bus: Any) -> None:
        from google.cloud import pubsub_v1

        self.bus = bus
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscriptions: dict[str, str] = {}

    def subscribe(self, topic: str) -> None:
        [path] = self.bus.ensure_topics([topic])
        sub = path.replace("/topics/", "/subscriptions/") + "-test"
        self.subscriber.create_subscription(name=sub, topic=path)
        self.subscriptions[topic] = sub

    def receive(self, topic: str, count: int, timeout: float = 10.0) -> list[Received]:
        got: list[Received] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            response = self.subscriber.pull(
                subscription=self.subscriptions[topic], max_messages=count, timeout=5
            )
            if response.received_messages:
                self.subscriber.acknowledge(
                    subscription=self.subscriptions[topic],
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
            got += [
                Received(m.message.data, dict(m.message.attributes))
                for m in response.received_messages
            ]
        return got

    def close(self) -> None:
        self.subscriber.close()


@pytest.fixture
def bus_and_receiver(backend_name: str) -> Iterator[tuple[Bus, Any]]:
    bus = build_backends(get_settings()).bus
    if backend_name == "gcp":
        receiver = PubSubReceiver(bus)
        yield bus, receiver
        receiver.close()
    else:
        yield bus, LocalReceiver(bus)


def _shard(index: int, **extra: Any) -> ShardMessage:
    return ShardMessage(
        run_id="demo-20261120T1800-ab12",
        recipe="demo",
        shard_index=index,
        shard_count=3,
        options=RunOptions(
            limit=100,
            skip_processors=("handoff",),
            as_of=datetime(2026, 11, 20, 18, 0, tzinfo=UTC),
        ),
        **extra,
    )


def test_published_message_arrives_as_the_same_model(bus_and_receiver: tuple[Bus, Any]) -> None:
    bus, receiver = bus_and_receiver
    receiver.subscribe(TOPIC)
    sent = _shard(1)
    message_id = bus.publish(TOPIC, sent)
    assert isinstance(message_id, str) and message_id
    [got] = receiver.receive(TOPIC, 1)
    assert decode(ShardMessage, got.data, where=TOPIC) == sent
    assert got.data == sent.model_dump_json(exclude_none=True).encode()


def test_every_message_arrives_once_with_distinct_ids(bus_and_receiver: tuple[Bus, Any]) -> None:
    bus, receiver = bus_and_receiver
    receiver.subscribe(TOPIC)
    ids = [bus.publish(TOPIC, _shard(i)) for i in range(3)]
    assert len(set(ids)) == 3
    got = receiver.receive(TOPIC, 3)
    # Pub/Sub promises no order without ordering keys: compare as sets.
    indexes = sorted(decode(ShardMessage, r.data, where=TOPIC).shard_index for r in got)
    assert indexes == [0, 1, 2]


def test_publish_many_delivers_every_message_once(bus_and_receiver: tuple[Bus, Any]) -> None:
    bus, receiver = bus_and_receiver
    receiver.subscribe(TOPIC)
    ids = bus.publish_many(TOPIC, [_shard(i) for i in range(25)])
    assert len(ids) == len(set(ids)) == 25
    got = receiver.receive(TOPIC, 25)
    assert sorted(decode(ShardMessage, r.data, where=TOPIC).shard_index for r in got) == list(
        range(25)
    )


def test_topics_are_separate(bus_and_receiver: tuple[Bus, Any]) -> None:
    bus, receiver = bus_and_receiver
    receiver.subscribe(TOPIC)
    receiver.subscribe("summarized")
    bus.publish("summarized", RunMessage(run_id="r1", recipe="demo"))
    bus.publish(TOPIC, _shard(0))
    [got] = receiver.receive(TOPIC, 1)
    assert decode(ShardMessage, got.data, where=TOPIC).shard_index == 0


@pytest.mark.emulators
def test_pubsub_sets_routing_attributes(gcp_env: Any) -> None:
    bus = build_backends(get_settings()).bus
    receiver = PubSubReceiver(bus)
    try:
        receiver.subscribe(TOPIC)
        bus.publish(TOPIC, _shard(2))
        [got] = receiver.receive(TOPIC, 1)
    finally:
        receiver.close()
    assert got.attributes == {
        "run_id": "demo-20261120T1800-ab12",
        "recipe": "demo",
        "schema_version": "1",
    }


@pytest.mark.emulators
def test_pubsub_topic_names_carry_the_prefix(gcp_env: Any) -> None:
    from common.adapters.gcp.pubsub_bus import PubSubBus

    bus = build_backends(get_settings()).bus
    assert isinstance(bus, PubSubBus)
    assert bus.topic_path(TOPIC) == f"projects/lr-test/topics/{gcp_env.topic_prefix}{TOPIC}"


@pytest.mark.emulators
def test_pubsub_publish_to_a_missing_topic_is_transient(gcp_env: Any) -> None:
    bus = build_backends(get_settings()).bus
    with pytest.raises(TransientError) as info:
        bus.publish("no-such-topic", _shard(0))
    assert "no-such-topic" in str(info.value)
