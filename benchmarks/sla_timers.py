"""SLA timer benchmark: one million open timers in PostgreSQL, steady-state firing lag, and a
burst of timers all due at the same moment, against a real sla-monitor process and Kafka broker.

    uv run python benchmarks/sla_timers.py [--open 1000000] [--burst 100000] [--steady-seconds 60]

Timers are written straight into the sla schema (as the consumer would write them, but without
a million assignment events); the sla-monitor process runs unchanged, on the wall clock, sweeps
them, writes its events to the outbox and relays them to Kafka. Figures printed: load time,
table and index sizes, the monitor's peak RSS (VmHWM) before and after, firing lag p50/p99 in
steady state, and how long the burst took to fire and to reach Kafka. Lags are read from the
escalation events on Kafka: the time each says it fired minus the time it was due.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_shared.kafka import topic_partitions
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.topics import LEAD_SLA, topic_layout
from handoff_sla.bootstrap import MIGRATIONS

OBLIGATIONS_SQL = """
INSERT INTO sla.obligations (obligation_id, assignment_id, lead_id, rep_id, manager, milestone,
    policy, state, assigned_at, escalate_at, recycle_at, clock, time_zone, working_days, opens,
    closes, target_seconds, met_by, recycle_to)
SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'rep-' || (g % 50), 'manager',
    'first_touch', $1, 'open', $2::timestamptz, $3::timestamptz + g * $4::interval,
    $5::timestamptz + g * $4::interval, 'calendar', 'UTC',
    '12345', '09:00', '17:00', 172800, '["contacted"]', 'nurture'
FROM generate_series(1, $6) AS g
"""
# Random event ids stand in for the monitor's uuid5 ones (PostgreSQL has no uuid5 built in);
# both are computed when the timer is written, so the sweep's cost is the same.
TIMERS_SQL = """
INSERT INTO sla.timers (timer_id, obligation_id, step, due_at, event_id)
SELECT gen_random_uuid(), obligation_id, step, due, gen_random_uuid()::text
FROM sla.obligations,
     LATERAL (VALUES ('escalate', escalate_at), ('recycle', recycle_at)) AS s(step, due)
WHERE policy = $1 AND (NOT $2 OR step = 'escalate')
"""


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def current_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_cpu_ticks() -> tuple[int, int]:
    """Busy and total CPU ticks of the whole machine so far, all cores together."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


async def add_timers(
    db: asyncpg.Connection,
    tag: str,
    count: int,
    first_due: datetime,
    spacing: timedelta,
    *,
    escalate_only: bool,
) -> None:
    """`count` obligations tagged `tag`, escalations from `first_due` every `spacing`."""
    await db.execute(
        OBLIGATIONS_SQL,
        tag,
        first_due - timedelta(days=2),
        first_due - spacing,
        spacing,
        first_due + timedelta(days=1),
        count,
    )
    await db.execute(TIMERS_SQL, tag, escalate_only)


async def wait_swept(db: asyncpg.Connection, last_due: datetime, timeout: float) -> None:
    """Wait until no timer due by `last_due` is pending.

    A timer is deleted when it fires; the poll goes through the due-time index, so it barely
    loads the database the monitor is racing on.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = await db.fetchval("SELECT count(*) FROM sla.timers WHERE due_at <= $1", last_due)
        if pending == 0:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"timers due by {last_due} still pending after {timeout}s")


async def escalation_lags(bootstrap: str, tag: str, expected: int) -> list[float]:
    """Firing lags (fired_at - due_at, seconds) of `tag`'s escalations, read from Kafka.

    A consumer reads the topic from the beginning, as the escalations' consumers would; it is
    opened only after a phase is measured, so its fetching does not load the machine meanwhile.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, LEAD_SLA.name)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        lags: list[float] = []
        deadline = time.monotonic() + 120
        while len(lags) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for messages in batches.values():
                for message in messages:
                    event = orjson.loads(message.value)
                    data = event["data"]
                    if event["type"] == "lead.sla.escalated" and data["policy"] == tag:
                        lag = datetime.fromisoformat(data["fired_at"]) - datetime.fromisoformat(
                            data["due_at"]
                        )
                        lags.append(lag.total_seconds())
    finally:
        await consumer.stop()
    if len(lags) != expected:
        raise AssertionError(f"{tag}: {len(lags)} escalations on Kafka, expected {expected}")
    return sorted(lags)


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))]


async def run(args: argparse.Namespace, bootstrap: str, url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, url, "sla", MIGRATIONS)
    dsn = url.replace("+asyncpg", "")
    db = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        started = time.monotonic()
        # Open timers due days from now, so they stay open for the whole run.
        await add_timers(
            db,
            "bench-open",
            args.open // 2,
            now + timedelta(days=2),
            timedelta(milliseconds=50),
            escalate_only=False,
        )
        await db.execute("ANALYZE sla.timers; ANALYZE sla.obligations")
        print(f"loaded {args.open:,} open timers in {time.monotonic() - started:.1f} s")
        sizes = await db.fetchrow(
            "SELECT pg_total_relation_size('sla.timers') AS timers,"
            " pg_relation_size('sla.ix_timers_due_at') AS due_index,"
            " pg_total_relation_size('sla.obligations') AS obligations"
        )
        print(
            f"sla.timers {sizes['timers'] / 2**20:.0f} MiB (due-time index "
            f"{sizes['due_index'] / 2**20:.0f} MiB), sla.obligations "
            f"{sizes['obligations'] / 2**20:.0f} MiB"
        )

        log = Path(tempfile.mkdtemp()) / "sla-monitor.log"
        env = {
            **os.environ,
            "SLA_DATABASE_URL": url,
            "SLA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SLA_LOG_LEVEL": "WARNING",
        }
        with log.open("wb") as out:
            monitor = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "handoff_sla", env=env, stdout=out, stderr=out
            )
        try:
            await measure(args, db, monitor.pid, bootstrap)
        finally:
            monitor.terminate()
            await asyncio.wait_for(monitor.wait(), timeout=30)
    finally:
        await db.close()


async def measure(
    args: argparse.Namespace, db: asyncpg.Connection, monitor: int, bootstrap: str
) -> None:
    """The steady-state and burst figures, from a running sla-monitor process."""
    await asyncio.sleep(8)
    rss, peak = current_rss_mib(monitor), peak_rss_mib(monitor)
    print(f"sla-monitor with {args.open:,} open timers: RSS {rss:.0f} MiB, peak {peak:.0f} MiB")

    # Steady state: timers come due continuously, a few hundred per second.
    steady = args.steady_seconds * args.steady_rate
    first = datetime.now(UTC) + timedelta(seconds=5)
    await add_timers(
        db,
        "bench-steady",
        steady,
        first,
        timedelta(seconds=1 / args.steady_rate),
        escalate_only=True,
    )
    last_steady = first + (steady - 1) * timedelta(seconds=1 / args.steady_rate)
    await wait_swept(db, last_steady, args.steady_seconds + 60)
    steady_lags = await escalation_lags(bootstrap, "bench-steady", steady)
    print(
        f"steady state, {args.steady_rate}/s for {args.steady_seconds} s: firing lag "
        f"p50 {percentile(steady_lags, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(steady_lags, 0.99) * 1000:.0f} ms, "
        f"max {steady_lags[-1] * 1000:.0f} ms (n={len(steady_lags):,})"
    )

    # Burst: many timers due at the very same instant.
    due = datetime.now(UTC) + timedelta(seconds=20)
    await add_timers(db, "bench-burst", args.burst, due, timedelta(0), escalate_only=True)
    wait = (due - datetime.now(UTC)).total_seconds()
    if wait < 0:
        print(f"warning: loading the burst overran its due time by {-wait:.1f} s")
    await asyncio.sleep(max(wait, 0))
    cpu_before, load_before = cpu_seconds(monitor), os.getloadavg()[0]
    busy_before, total_before = machine_cpu_ticks()
    await wait_swept(db, due, 300)
    cpu_used, load_after = cpu_seconds(monitor) - cpu_before, os.getloadavg()[0]
    busy_after, total_after = machine_cpu_ticks()
    cores = os.cpu_count() or 1
    machine_busy = cores * (busy_after - busy_before) / (total_after - total_before)
    relay_started = time.monotonic()
    while await db.fetchval("SELECT count(*) FROM sla.outbox") > 0:
        if time.monotonic() - relay_started > 300:
            raise TimeoutError("the outbox did not drain within 300 s")
        await asyncio.sleep(0.2)
    published = (datetime.now(UTC) - due).total_seconds()
    burst_lags = await escalation_lags(bootstrap, "bench-burst", args.burst)
    print(
        f"burst of {args.burst:,} due at once: all fired {burst_lags[-1]:.1f} s after the "
        f"due time (p50 {statistics.median(burst_lags):.1f} s); sla-monitor CPU "
        f"{cpu_used:.1f} s ({cpu_used / args.burst * 1e6:.0f} us/timer, relay included); "
        f"machine {machine_busy:.1f} of {cores} cores busy "
        f"(everything: database, broker, other work); "
        f"load average {load_before:.1f} -> {load_after:.1f}"
    )
    print(f"burst published to Kafka {published:.1f} s after the due time (outbox drained)")
    print(
        f"sla-monitor after the burst: RSS {current_rss_mib(monitor):.0f} MiB, "
        f"peak {peak_rss_mib(monitor):.0f} MiB"
    )
    open_now = await db.fetchval("SELECT count(*) FROM sla.timers")
    print(f"open timers at the end: {open_now:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1_000_000, help="open timers to load")
    parser.add_argument("--burst", type=int, default=100_000, help="timers due at one instant")
    parser.add_argument("--steady-seconds", type=int, default=60)
    parser.add_argument("--steady-rate", type=int, default=200, help="timers due per second")
    args = parser.parse_args()

    ensure_server()
    name = f"handoff_bench_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(name))
    broker = KafkaBroker(Path(tempfile.mkdtemp()))
    broker.start()
    try:
        asyncio.run(create_topics(broker.bootstrap_servers, topic_layout(6)))
        asyncio.run(run(args, broker.bootstrap_servers, url))
    finally:
        broker.stop()
        asyncio.run(drop_database(name))


if __name__ == "__main__":
    main()
