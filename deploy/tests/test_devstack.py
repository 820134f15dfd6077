"""End-to-end checks of the dev servers: a real Kafka broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_devstack.postgres import create_database, drop_database, ensure_server


async def _round_trip(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes]]:
    await create_topics(bootstrap, {topic: 3})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(3):
            # One message per partition, so the consumer must read all three.
            await producer.send_and_wait(
                topic, f"value-{i}".encode(), key=f"key-{i}".encode(), partition=i
            )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id="devstack-test", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        received: list[tuple[int, bytes, bytes]] = []
        async with asyncio.timeout(30):
            while len(received) < 3:
                batches = await consumer.getmany(timeout_ms=1000)
                received += [(m.partition, m.key, m.value) for ms in batches.values() for m in ms]
    finally:
        await consumer.stop()
    assert partitions == {0, 1, 2}
    return sorted(received)


def test_kafka_broker_round_trip(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka")
    with broker:
        pid = broker.pid
        assert pid is not None and broker.running
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        received = asyncio.run(_round_trip(broker.bootstrap_servers, "devstack-test"))
        # Creating an existing topic again is a no-op, not an error.
        asyncio.run(create_topics(broker.bootstrap_servers, {"devstack-test": 3}))
    assert received == [(i, f"key-{i}".encode(), f"value-{i}".encode()) for i in range(3)]
    assert not broker.running and broker.pid is None
    # Signal 0 only checks existence: the JVM must be gone, not just detached.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"broker process {pid} is still alive after stop()")


async def _postgres_round_trip(base: str, name: str) -> None:
    url = await create_database(name)
    if "HANDOFF_PG_URL" not in os.environ:
        assert url == f"postgresql+asyncpg://handoff:handoff@127.0.0.1:5432/{name}"
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        assert await connection.fetchval("select 1") == 1
        assert await connection.fetchval("select current_database()") == name
    finally:
        await connection.close()

    await drop_database(name)
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        remaining = await admin.fetchval(
            "select count(*) from pg_database where datname = $1", name
        )
    finally:
        await admin.close()
    assert remaining == 0


def test_postgres_database_lifecycle() -> None:
    base = ensure_server()
    if "HANDOFF_PG_URL" not in os.environ:
        assert base == "postgresql://handoff:handoff@127.0.0.1:5432"
    asyncio.run(_postgres_round_trip(base, f"devstack_test_{uuid.uuid4().hex[:8]}"))
