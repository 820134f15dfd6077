"""Session-wide real infrastructure: one Kafka broker and one PostgreSQL database per test run.

Both start only when a test asks for them, so the unit tests stay fast and need neither.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_shared.topics import topic_layout

TEST_PARTITIONS = 6


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka 4 broker (KRaft) on free ports, with the project's topics."""
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        asyncio.run(create_topics(broker.bootstrap_servers, topic_layout(TEST_PARTITIONS)))
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on a real server, dropped at the end of the run."""
    ensure_server()
    name = f"handoff_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = asyncio.run(create_database(name))
    try:
        yield url
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).parent
