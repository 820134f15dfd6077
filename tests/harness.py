"""Running the services as processes and reading their topics, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared import db
from handoff_shared.clock import write_clock_offset
from handoff_shared.kafka import topic_partitions

API_KEY = "e2e-test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service run as `python -m MODULE`, as in production."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill_hard(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    intake_url: str
    clock_file: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    kafka_bootstrap: str = ""
    postgres_url: str = ""

    def move_sla_clock(self, offset: timedelta) -> None:
        write_clock_offset(self.clock_file, offset)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.intake_url, headers={"X-API-Key": API_KEY}, timeout=30
        )


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for service in stack.services.values():
            if service.process and service.process.poll() is not None:
                raise AssertionError(f"{service.name} exited:\n{service.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class TopicReader:
    """Reads a topic from its beginning with a plain consumer (no group), as kcat would."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._topic = topic
        self._bootstrap = bootstrap
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        assigned = await topic_partitions(self._bootstrap, self._topic)
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()

    async def wait_for(
        self, check: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str
    ) -> list[dict[str, Any]]:
        """Read until `check(all events so far)` holds; fail after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check(self.events):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; saw {len(self.events)} events")
            batches = await self._consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for message in messages:
                    try:
                        event = json.loads(message.value)
                    except ValueError:
                        event = {"subject": None, "type": None}
                    event["_value"] = message.value
                    event["_key"] = message.key.decode() if message.key else None
                    event["_partition"] = message.partition
                    event["_headers"] = {k: v.decode() for k, v in message.headers}
                    self.events.append(event)
        return self.events


def of_lead(
    events: list[dict[str, Any]], lead_id: str, event_type: str | None = None
) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["subject"] == lead_id and (event_type is None or e["type"] == event_type)
    ]


@contextlib.asynccontextmanager
async def schema_with_tables(
    postgres_url: str, metadata: MetaData, prefix: str
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a fresh schema holding `metadata`'s tables, for tests of shared plumbing."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    setup = db.create_engine(postgres_url, "public")
    async with setup.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    await setup.dispose()
    engine = db.create_engine(postgres_url, schema)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield db.session_factory(engine)
    finally:
        await engine.dispose()
