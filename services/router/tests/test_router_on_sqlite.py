"""`make run` keeps the router's state in SQLite: a batch is routed there as on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from handoff_router.adapters.tables import assignments, decisions
from handoff_router.bootstrap import bootstrap, migrate
from handoff_router.settings import RouterSettings
from handoff_shared.clock import ManualClock
from handoff_shared.events import LeadReceived, LeadSnapshot, LeadUpdated, LeadUpdatedData

MONDAY = datetime(2026, 11, 23, 10, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"


async def test_a_batch_is_routed_on_sqlite(tmp_path: Path) -> None:
    settings = RouterSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'router.db'}",
        environment="test",
        api_keys=["sqlite-test-key"],
        roster_file=FIXTURES / "small_roster.yaml",
    )
    await asyncio.to_thread(migrate, settings)
    router = await bootstrap(settings, clock=ManualClock(MONDAY))
    leads = [
        LeadSnapshot(
            lead_id=uuid.uuid4(),
            email=f"vp@company-{n}.com",
            received_at=MONDAY,
            form_type="demo_request",
            employee_count=400,
            job_title="VP Sales",
        )
        for n in range(3)
    ]
    events = [LeadReceived.build(source="test", time=MONDAY, data=lead) for lead in leads]
    changed = leads[0].model_copy(update={"job_title": "CEO"})
    events.append(
        LeadUpdated.build(
            source="test",
            time=MONDAY,
            data=LeadUpdatedData(lead=changed, changed_fields=["job_title"]),
        )
    )
    try:
        async with router.sessions.begin() as session:
            await router.handlers.prepare(session, events)
            for event in events:
                await router.handlers.handle(session, event)
        async with router.sessions() as session:
            assigned = (await session.scalars(select(assignments.c.lead_id))).all()
            stored = (await session.scalars(select(decisions.c.lead))).all()
    finally:
        await router.close()
    # One assignment each: the update found its lead already held (read after its pending rows).
    assert sorted(assigned) == sorted(lead.lead_id for lead in leads)
    assert sorted(lead["lead_id"] for lead in stored) == sorted(str(lead.lead_id) for lead in leads)
