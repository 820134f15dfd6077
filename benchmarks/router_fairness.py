"""Fairness of weighted round robin: 10,000 leads over a team weighted 5/3/2 (real PostgreSQL).

Run: uv run python benchmarks/router_fairness.py [--leads 10000]
Prints each rep's share against its weight; passes when every share is within 2 points.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_router.adapters.tables import assignments
from handoff_router.bootstrap import bootstrap, migrate
from handoff_router.settings import RouterSettings
from handoff_shared.clock import ManualClock
from handoff_shared.events import LeadReceived, LeadSnapshot

WEIGHTS = {"heavy": 5, "middle": 3, "light": 2}
ROSTER = "teams: [{name: Team}]\nrouting_rules: [{name: all, team: Team}]\nreps:\n" + "".join(
    f"  - {{id: {rep}, name: {rep}, team: Team, weight: {w}, capacity: 100000}}\n"
    for rep, w in WEIGHTS.items()
)
NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


async def run(leads: int) -> None:
    ensure_server()
    name = f"handoff_bench_fair_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    try:
        with tempfile.TemporaryDirectory() as folder:
            roster = Path(folder) / "roster.yaml"
            roster.write_text(ROSTER)
            settings = RouterSettings(database_url=url, roster_file=roster)
            await asyncio.to_thread(migrate, settings)
            router = await bootstrap(settings, clock=ManualClock(NOW))
        started = time.perf_counter()
        for _ in range(leads):
            lead = LeadSnapshot(
                lead_id=uuid.uuid4(),
                email=f"vp@{uuid.uuid4().hex[:8]}.com",
                received_at=NOW,
                form_type="demo_request",
                employee_count=400,
                job_title="VP Sales",
            )
            async with router.sessions.begin() as session:
                await router.handlers.handle(
                    session, LeadReceived.build(source="bench", time=NOW, data=lead)
                )
        elapsed = time.perf_counter() - started
        async with router.sessions() as session:
            counts = Counter(
                dict(
                    (
                        await session.execute(
                            select(assignments.c.rep_id, func.count()).group_by(
                                assignments.c.rep_id
                            )
                        )
                    ).all()
                )
            )
        await router.close()
    finally:
        await drop_database(name)
    total = sum(WEIGHTS.values())
    worst = 0.0
    print(f"{leads} leads assigned in {elapsed:.1f}s ({leads / elapsed:.0f}/s, one at a time)")
    for rep, weight in WEIGHTS.items():
        share, target = 100 * counts[rep] / leads, 100 * weight / total
        worst = max(worst, abs(share - target))
        print(
            f"  {rep:8} weight {weight}: {counts[rep]:6} leads = {share:5.2f}%"
            f" (target {target:.2f}%)"
        )
    print(f"largest deviation: {worst:.2f} percentage points -> {'PASS' if worst <= 2 else 'FAIL'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=10_000)
    asyncio.run(run(parser.parse_args().leads))
