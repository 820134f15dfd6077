"""Router throughput and safety: N router processes on a real Kafka broker (six partitions) and
PostgreSQL. With one router, the lead events are on `lead.intake` before it starts, and the script
times consume, score, assign, commit and publish from the first decisions it sees (those are not
counted) until every lead is decided and every event has left the outbox for Kafka. With several,
they all serve before the leads are produced, so they compete for the same reps; then it checks
that no rep went over capacity and no lead was assigned twice.

Throughput: uv run python benchmarks/router_cluster.py --instances 1 --leads 20000 --capacity 100000
Safety:     uv run python benchmarks/router_cluster.py --instances 3 --leads 2000 --capacity 150
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

REPS = 12


def roster(capacity: int) -> str:
    return "teams: [{name: Team}]\nrouting_rules: [{name: all, team: Team}]\nreps:\n" + "".join(
        f"  - {{id: rep-{n}, name: Rep {n}, team: Team, weight: {1 + n % 3}, "
        f"capacity: {capacity}}}\n"
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


async def progress(connection: asyncpg.Connection) -> tuple[int, int]:
    """Leads decided, and events still waiting in the routers' outbox."""
    row = await connection.fetchrow(
        "SELECT (SELECT count(*) FROM router.decisions) AS decided,"
        " (SELECT count(*) FROM router.outbox) AS unsent"
    )
    return int(row["decided"]), int(row["unsent"])


async def run(instances: int, leads: int, capacity: int, log_level: str) -> None:
    ensure_server()
    name = f"handoff_bench_cluster_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    folder = Path(tempfile.mkdtemp(prefix="router-bench-"))
    broker = KafkaBroker(folder / "kafka")
    broker.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await create_topics(broker.bootstrap_servers, topic_layout(6))
        (folder / "roster.yaml").write_text(roster(capacity))
        env = {
            **os.environ,
            "ROUTER_DATABASE_URL": url,
            "ROUTER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "ROUTER_ROSTER_FILE": str(folder / "roster.yaml"),
            "ROUTER_LOG_LEVEL": log_level,
        }
        backlog = instances == 1
        produced = 0.0
        if backlog:
            # One router: the leads wait on the topic, so the router never waits for them.
            started = time.perf_counter()
            await produce(broker.bootstrap_servers, leads)
            produced = time.perf_counter() - started
        processes += [
            start_router(env, number, folder / f"router-{number}.log")
            for number in range(instances)
        ]
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        await wait_until_migrated(connection)
        deadline = time.monotonic() + 900
        if backlog:
            # Timed from the first decisions seen; what was decided by then is not counted.
            while (await progress(connection))[0] == 0 and time.monotonic() < deadline:
                check_running(processes)
                await asyncio.sleep(0.02)
        else:
            # Several routers: every one serves and the group has formed before any lead comes,
            # so they really do compete for the same reps.
            await wait_until_serving(processes, instances)
        first_decision = time.perf_counter()
        uncounted = (await progress(connection))[0]
        cpu_at_start = routers_cpu_seconds(processes)
        if not backlog:
            await produce(broker.bootstrap_servers, leads)
            produced = time.perf_counter() - first_decision
        # The longest time nothing moved (no decision, no event out of the outbox): a stall.
        last_state, last_change, longest_stall = (-1, -1), time.perf_counter(), 0.0
        while progress_left(state := await progress(connection), leads):
            if time.monotonic() > deadline:
                break
            now = time.perf_counter()
            if state != last_state:
                last_state, last_change = state, now
            longest_stall = max(longest_stall, now - last_change)
            check_running(processes)
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - first_decision
        cpu = routers_cpu_seconds(processes) - cpu_at_start
        done, unsent = await progress(connection)
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
                "left_in_outbox": unsent,
                "produce_seconds": round(produced, 2),
                "timed_from": "first decisions" if backlog else "start of producing",
                "decided_before_timing": uncounted,
                "seconds_timed": round(elapsed, 2),
                "events_per_second": round((done - uncounted) / elapsed, 1),
                "longest_stall_seconds": round(longest_stall, 2),
                # Less sensitive to other load on the machine than the wall-clock rate.
                "router_cpu_seconds": round(cpu, 2),
                "router_cpu_microseconds_per_event": round(1e6 * cpu / (done - uncounted)),
                "max_open_per_rep": most,
                "capacity": capacity,
                "over_capacity": most > capacity,
                "leads_assigned_twice": doubled,
                "queued_overflow": queued,
                "assigned": sum(row["n"] for row in per_rep),
            },
            indent=2,
        )
    )


def routers_cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User plus system CPU time the router processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


async def wait_until_serving(processes: list[subprocess.Popen[bytes]], instances: int) -> None:
    """Wait until every instance answers, then give the consumer group time to form."""
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(timeout=1) as client:
        for number in range(instances):
            while True:
                check_running(processes)
                if time.monotonic() > deadline:
                    raise TimeoutError("routers did not come up")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{18100 + number}/healthz")).is_success:
                        break
                await asyncio.sleep(0.5)
    await asyncio.sleep(5)


def check_running(processes: list[subprocess.Popen[bytes]]) -> None:
    if any(process.poll() is not None for process in processes):
        raise RuntimeError("a router exited; see its log")


def progress_left(state: tuple[int, int], leads: int) -> bool:
    decided, unsent = state
    return decided < leads or unsent > 0


async def wait_until_migrated(connection: asyncpg.Connection) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if await connection.fetchval("SELECT to_regclass('router.outbox') IS NOT NULL"):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the routers did not migrate their schema")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--capacity", type=int, default=150, help="open leads a rep may hold")
    parser.add_argument("--log-level", default="WARNING", help="the routers' (logs in /tmp)")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.instances, arguments.leads, arguments.capacity, arguments.log_level))
