"""Print a topic's events from the beginning: `python -m handoff_devstack.watch TOPIC`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of `topic`; empty if it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(partition["partition"] for partition in described["partitions"])


async def watch(bootstrap: str, topic: str) -> None:
    partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    if not partitions:
        raise SystemExit(f"no topic {topic!r} on {bootstrap}")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async for message in consumer:
            print(message.value.decode(errors="replace") if message.value else "", flush=True)
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m handoff_devstack.watch", description=__doc__)
    parser.add_argument("topic")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(args.bootstrap, args.topic))


if __name__ == "__main__":
    main()
