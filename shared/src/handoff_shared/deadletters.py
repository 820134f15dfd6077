"""Dead letters: list what a consumer group could not process, and redrive it to its topic.

Redriving is safe to repeat: consumers drop events they already processed (inbox), and the
redrive group's committed offset remembers how far it got.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from handoff_shared.kafka import topic_partitions
from handoff_shared.topics import CONSUMER_GROUPS, dead_letter_topic

DLQ_HEADER_PREFIX = "dlq."


@dataclass(frozen=True)
class DeadLetter:
    """One parked message with where it came from and why it was parked."""

    partition: int
    offset: int
    key: str
    error: str
    original_topic: str
    original_offset: str
    value: bytes


def _dead_letter(message: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {name: value.decode(errors="replace") for name, value in message.headers or ()}
    return DeadLetter(
        partition=message.partition,
        offset=message.offset,
        key=(message.key or b"").decode(errors="replace"),
        error=headers.get("dlq.error", ""),
        original_topic=headers.get("dlq.topic", ""),
        original_offset=f"{headers.get('dlq.partition', '?')}:{headers.get('dlq.offset', '?')}",
        value=message.value or b"",
    )


async def _read_to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything from the consumer's positions up to the end offsets seen at the start."""
    end = await consumer.end_offsets(partitions)
    records: list[ConsumerRecord[bytes, bytes]] = []
    while await _behind(consumer, end):
        for messages in (await consumer.getmany(*partitions, timeout_ms=500)).values():
            records += [m for m in messages if m.offset < end[TopicPartition(m.topic, m.partition)]]
    return records


async def _behind(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for partition, end_offset in end.items():
        if await consumer.position(partition) < end_offset:
            return True
    return False


async def list_dead_letters(bootstrap: str, group: str) -> list[DeadLetter]:
    """Every message in `group`'s dead-letter topic, oldest first per partition."""
    partitions = await topic_partitions(bootstrap, dead_letter_topic(group))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        return [_dead_letter(m) for m in await _read_to_end(consumer, partitions)]
    finally:
        await consumer.stop()


async def redrive(bootstrap: str, group: str) -> int:
    """Send the dead letters not yet redriven back to their original topics; returns how many."""
    topic = dead_letter_topic(group)
    partitions = await topic_partitions(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"redrive.{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        consumer.assign(partitions)
        records = await _read_to_end(consumer, partitions)
        for message in records:
            letter = _dead_letter(message)
            headers = [
                (n, v) for n, v in message.headers or () if not n.startswith(DLQ_HEADER_PREFIX)
            ]
            await producer.send_and_wait(
                letter.original_topic, message.value, key=message.key, headers=headers
            )
        if records:
            await consumer.commit()
        return len(records)
    finally:
        await producer.stop()
        await consumer.stop()


cli = typer.Typer(help="Dead letters: list them, and redrive them to their original topics.")
GroupArgument = typer.Argument(help=f"consumer group, one of {', '.join(CONSUMER_GROUPS)}")
BootstrapOption = typer.Option("127.0.0.1:9092", help="Kafka bootstrap servers")


@cli.command("list")
def list_command(group: str = GroupArgument, bootstrap: str = BootstrapOption) -> None:
    """Show each dead letter: where it came from and the error."""
    letters = asyncio.run(list_dead_letters(bootstrap, group))
    for letter in letters:
        typer.echo(
            f"{letter.partition}:{letter.offset}  lead={letter.key}  from={letter.original_topic}"
            f"@{letter.original_offset}  error={letter.error[:200]}"
        )
    typer.echo(f"{len(letters)} dead letter(s) for {group}")


@cli.command("redrive")
def redrive_command(group: str = GroupArgument, bootstrap: str = BootstrapOption) -> None:
    """Publish the dead letters not yet redriven back to their original topics."""
    typer.echo(f"redrove {asyncio.run(redrive(bootstrap, group))} dead letter(s) for {group}")


if __name__ == "__main__":
    cli()
