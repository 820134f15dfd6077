"""Print a topic's events from the beginning: `python -m handoff_devstack.watch TOPIC`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer

from handoff_shared.kafka import topic_partitions


async def watch(bootstrap: str, topic: str) -> None:
    partitions = await topic_partitions(bootstrap, topic)
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
