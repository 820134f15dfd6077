"""Listing and redriving dead letters on the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from handoff_devstack.kafka import create_topics
from handoff_shared.deadletters import list_dead_letters, redrive
from handoff_shared.topics import dead_letter_topic
from tests.harness import TopicReader

pytestmark = pytest.mark.integration


async def test_dead_letters_are_listed_and_redriven_once(kafka_bootstrap: str) -> None:
    group = f"test-{uuid.uuid4().hex[:6]}"
    original = f"test.original.{uuid.uuid4().hex[:6]}"
    await create_topics(kafka_bootstrap, {dead_letter_topic(group): 2, original: 1})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(
                dead_letter_topic(group),
                f'{{"n": {n}}}'.encode(),
                key=f"lead-{n}".encode(),
                headers=[
                    ("traceparent", b"00-abc-def-01"),
                    ("dlq.error", f"ValueError('bad {n}')".encode()),
                    ("dlq.topic", original.encode()),
                    ("dlq.partition", b"0"),
                    ("dlq.offset", str(n).encode()),
                ],
            )
    finally:
        await producer.stop()

    letters = await list_dead_letters(kafka_bootstrap, group)
    assert sorted(letter.error for letter in letters) == [
        f"ValueError('bad {n}')" for n in range(3)
    ]
    assert {letter.original_topic for letter in letters} == {original}

    assert await redrive(kafka_bootstrap, group) == 3
    assert await redrive(kafka_bootstrap, group) == 0, "a second redrive repeated the first"
    async with TopicReader(kafka_bootstrap, original) as reader:
        events = await reader.wait_for(lambda seen: len(seen) >= 3, 30, "3 redriven messages")
    assert sorted(event["_key"] for event in events) == ["lead-0", "lead-1", "lead-2"]
    assert all(set(event["_headers"]) == {"traceparent"} for event in events)
    assert len(await list_dead_letters(kafka_bootstrap, group)) == 3, "listing consumes nothing"
