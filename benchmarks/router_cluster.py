"""Router throughput and safety: N router processes on a real Kafka broker (six partitions) and
PostgreSQL. Lead events go straight onto `lead.intake`; the script times consume, score, assign,
publish and commit until every lead is decided, then checks that no rep went over capacity and
no lead was assigned twice.

Run: uv run python benchmarks/router_cluster.py --instances 3 --leads 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_shared.events import LeadReceived, LeadSnapshot
from handoff_shared.topics import topic_layout

CAPACITY = 150
REPS = 12
ROSTER = "teams: [{name: Team}]\nrouting_rules: [{name: all, team: Team}]\nreps:\n" + "".join(
    f"  - {{id: rep-{n}, name: Rep {n}, team: Team, weight: {1 + n % 3}, capacity: {CAPACITY}}}\n"
    for n in range(REPS)
)


async def produce(bootstrap: str, leads: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        now = datetime.now(UTC)
        for _ in range(leads):
            lead = LeadSnapshot(
                lead_id=uuid.uuid4(),
                email=f"vp@{uuid.uuid4().hex[:8]}.com",
                received_at=now,
                form_type="demo_request",
                employee_count=400,
                job_title="VP Sales",
            )
            event = LeadReceived.build(source="bench", time=now, data=lead)
            await producer.send("lead.intake", event.to_json(), key=event.subject.encode())
        await producer.flush()
    finally:
        await producer.stop()


def start_router(env: dict[str, str], number: int, log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "handoff_router"],
        env={**env, "ROUTER_PORT": str(18100 + number)},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop_routers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


async def wait_until_serving(processes: list[subprocess.Popen[bytes]], instances: int) -> None:
    """Wait until every instance answers (migrated, seeded), then give the group time to form."""
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(timeout=1) as client:
        for number in range(instances):
            while True:
                if any(process.poll() is not None for process in processes):
                    raise RuntimeError("a router exited; see its log")
                if time.monotonic() > deadline:
                    raise TimeoutError("routers did not come up")
                try:
                    if (await client.get(f"http://127.0.0.1:{18100 + number}/healthz")).is_success:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
    await asyncio.sleep(5)


async def decided(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM router.decisions"))


async def run(instances: int, leads: int, log_level: str) -> None:
    ensure_server()
    name = f"handoff_bench_cluster_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    folder = Path(tempfile.mkdtemp(prefix="router-bench-"))
    broker = KafkaBroker(folder / "kafka")
    broker.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await create_topics(broker.bootstrap_servers, topic_layout(6))
        (folder / "roster.yaml").write_text(ROSTER)
        env = {
            **os.environ,
            "ROUTER_DATABASE_URL": url,
            "ROUTER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "ROUTER_ROSTER_FILE": str(folder / "roster.yaml"),
            "ROUTER_LOG_LEVEL": log_level,
        }
        processes += [
            start_router(env, number, folder / f"router-{number}.log")
            for number in range(instances)
        ]
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        await wait_until_serving(processes, instances)
        started = time.perf_counter()
        await produce(broker.bootstrap_servers, leads)
        produced = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while await decided(connection) < leads and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        done = await decided(connection)
        per_rep = await connection.fetch(
            "SELECT rep_id, count(*) AS n FROM router.assignments WHERE status = 'open' "
            "GROUP BY rep_id ORDER BY rep_id"
        )
        doubled = await connection.fetchval(
            "SELECT count(*) FROM (SELECT lead_id FROM router.assignments "
            "GROUP BY lead_id HAVING count(*) > 1) AS twice"
        )
        queued = await connection.fetchval("SELECT count(*) FROM router.queued_leads")
        await connection.close()
    finally:
        await asyncio.to_thread(stop_routers, processes)
        broker.stop()
        await drop_database(name)
    most = max((row["n"] for row in per_rep), default=0)
    print(
        json.dumps(
            {
                "instances": instances,
                "leads": leads,
                "decided": done,
                "produce_seconds": round(produced, 2),
                "seconds_to_decide_all": round(elapsed, 2),
                "events_per_second": round(done / elapsed, 1),
                "max_open_per_rep": most,
                "capacity": CAPACITY,
                "over_capacity": most > CAPACITY,
                "leads_assigned_twice": doubled,
                "queued_overflow": queued,
                "assigned": sum(row["n"] for row in per_rep),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--log-level", default="WARNING", help="the routers' (logs in /tmp)")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.instances, arguments.leads, arguments.log_level))
