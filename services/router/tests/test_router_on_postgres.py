"""The router's handlers and API on a real PostgreSQL, with the real migrations."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_router.adapters.tables import assignments, notifications, queued_leads
from handoff_router.backtest import app as backtest_app
from handoff_router.bootstrap import Router, bootstrap, migrate
from handoff_router.entrypoints.http import create_app
from handoff_router.settings import RouterSettings
from handoff_shared.clock import ManualClock
from handoff_shared.events import (
    ActivityKind,
    LeadActivityData,
    LeadActivityRecorded,
    LeadReceived,
    LeadSnapshot,
    decode_event,
)

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 10, tzinfo=UTC)
KEY = "router-test-key"
HOT = {"form_type": "demo_request", "employee_count": 400, "job_title": "VP Sales"}
FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT = "2026-11-default-2"
STATE_TABLES = (
    "assignments",
    "decisions",
    "signals",
    "queued_leads",
    "account_owners",
    "rotation_credits",
    "rotations",
    "outbox",
    "inbox",
    "notifications",
    "shadow_results",
)


@pytest.fixture(scope="module")
def router_database(postgres_url: str) -> Iterator[str]:
    """A database of this module's own: the e2e router must not see these reps and policies."""
    ensure_server()
    name = f"handoff_router_test_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(name))
    try:
        yield url
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture
async def router(router_database: str, tmp_path: Path) -> AsyncIterator[Router]:
    roster = tmp_path / "roster.yaml"
    roster.write_text((FIXTURES / "small_roster.yaml").read_text())
    settings = RouterSettings(
        database_url=router_database,
        environment="test",
        api_keys=[KEY],
        roster_file=roster,
        config_refresh_seconds=0,
        notify_channels=[{"name": "crm", "kind": "webhook", "url": "http://crm.test/hook"}],
        alert_channels=[{"name": "ops", "kind": "slack", "url": "http://chat.test/ops"}],
    )
    await asyncio.to_thread(migrate, settings)
    built = await bootstrap(settings, clock=ManualClock(MONDAY))
    async with built.sessions.begin() as session:
        for table in STATE_TABLES:
            await session.execute(text(f"DELETE FROM {table}"))
    try:
        yield built
    finally:
        await built.close()


def received(**fields: Any) -> LeadReceived:
    lead = LeadSnapshot(
        lead_id=uuid.uuid4(),
        email=fields.pop("email", f"p-{uuid.uuid4().hex[:8]}@co-{uuid.uuid4().hex[:6]}.com"),
        received_at=MONDAY,
        **fields,
    )
    return LeadReceived.build(source="test", time=MONDAY, data=lead)


async def handle(router: Router, event: Any) -> None:
    async with router.sessions.begin() as session:
        await router.handlers.handle(session, event)


async def handle_batch(router: Router, events: list[Any]) -> None:
    """As the consumer handles a polled batch: histories read up front, one transaction."""
    async with router.sessions.begin() as session:
        await router.handlers.prepare(session, events)
        for event in events:
            await router.handlers.handle(session, event)


async def routed(router: Router) -> list[Any]:
    async with router.sessions() as session:
        rows = await session.execute(text("SELECT payload FROM outbox ORDER BY id"))
        return [decode_event(row.payload) for row in rows]


async def test_a_hot_lead_is_assigned_with_its_packet_and_one_notification_per_channel(
    router: Router,
) -> None:
    event = received(first_name="Hana", **HOT)
    await handle(router, event)
    (assigned,) = await routed(router)
    data = assigned.data
    assert assigned.type == "lead.assigned"
    assert data.qualification.grade == "A" and data.qualification.hand_raise
    assert data.qualification.policy_version == "2026-11-default-2"
    assert data.priority == "high" and data.rep_time_zone == "Europe/Berlin"
    assert data.routing.rule == "everyone_else->East"
    async with router.sessions() as session:
        sent = (await session.execute(select(notifications.c.channel, notifications.c.body))).all()
    assert [row.channel for row in sent] == ["crm"]
    assert sent[0].body["data"]["qualification"]["grade"] == "A"


async def test_weighted_rotation_capacity_and_overflow_across_concurrent_transactions(
    router: Router,
) -> None:
    # East: ana weight 2 capacity 4, ben weight 1 capacity 4: twelve leads at once fill both.
    events = [received(**HOT) for _ in range(12)]
    await asyncio.gather(*(handle(router, event) for event in events))
    async with router.sessions() as session:
        per_rep = Counter(
            dict(
                (
                    await session.execute(
                        select(assignments.c.rep_id, func.count()).group_by(assignments.c.rep_id)
                    )
                ).all()
            )
        )
        queued = (await session.execute(select(queued_leads.c.reason))).scalars().all()
        alerts = await session.scalar(
            select(func.count()).select_from(notifications).where(notifications.c.channel == "ops")
        )
    assert per_rep == {"ana": 4, "ben": 4}
    assert len(queued) == 4 and all("at capacity" in reason for reason in queued)
    assert alerts == 4


async def test_parked_leads_go_to_reps_who_freed_up_oldest_first(router: Router) -> None:
    # East holds eight open leads at most; two more are parked. Ana accepts one lead (accepted
    # leads stop counting against capacity), so the sweep can place exactly one parked lead:
    # the one parked first.
    events = [received(**HOT) for _ in range(10)]
    clock = router.clock
    assert isinstance(clock, ManualClock)
    for event in reversed(events):  # parked in reverse: the sweep must order by parking time
        await handle(router, event)
        clock.advance(timedelta(minutes=1))
    async with router.sessions() as session:
        ana_lead = await session.scalar(
            select(assignments.c.lead_id).where(assignments.c.rep_id == "ana").limit(1)
        )
    accepted = LeadActivityRecorded.build(
        source="test",
        time=MONDAY,
        data=LeadActivityData(
            activity_id=uuid.uuid4(), lead_id=ana_lead, kind="accepted", occurred_at=MONDAY
        ),
    )
    await handle(router, accepted)
    async with router.sessions.begin() as session:
        assert await router.handlers.retry_queued(session) == 1
    async with router.sessions.begin() as session:
        assert await router.handlers.retry_queued(session) == 0  # nobody else freed up
    async with router.sessions() as session:
        still_parked = (await session.scalars(select(queued_leads.c.lead_id))).all()
        outcome = await session.scalar(
            text("SELECT outcome FROM decisions WHERE lead_id = :lead"),
            {"lead": events[1].data.lead_id},
        )
    assert still_parked == [events[0].data.lead_id]
    assert outcome == "mql"
    (placed,) = [e for e in await routed(router) if e.subject == str(events[1].data.lead_id)]
    assert placed.data.rep_id == "ana"


async def test_a_batch_in_one_transaction_keeps_capacity_rotation_and_takes_back_its_own_leads(
    router: Router,
) -> None:
    # One transaction, as the consumer handles a polled batch: seats are read once under the
    # team lock and the inserts wait for the commit, yet every guarantee holds within it.
    events = [received(**HOT) for _ in range(12)]
    rejected = LeadActivityRecorded.build(
        source="test",
        time=MONDAY,
        data=LeadActivityData(
            activity_id=uuid.uuid4(),
            lead_id=events[0].data.lead_id,
            kind="rejected",
            occurred_at=MONDAY,
            reason="wrong territory",
        ),
    )
    await handle_batch(router, [*events[:3], rejected, *events[3:], events[1]])
    async with router.sessions() as session:
        per_rep = Counter(
            dict(
                (
                    await session.execute(
                        select(assignments.c.rep_id, func.count())
                        .where(assignments.c.status == "open")
                        .group_by(assignments.c.rep_id)
                    )
                ).all()
            )
        )
        first_lead = (
            await session.execute(
                select(assignments.c.rep_id, assignments.c.status)
                .where(assignments.c.lead_id == events[0].data.lead_id)
                .order_by(assignments.c.sequence)
            )
        ).all()
        credits = dict(
            (
                await session.execute(text("SELECT rep_id, current_weight FROM rotation_credits"))
            ).all()
        )
        stamped = await session.scalar(
            text("SELECT count(*) FROM reps WHERE last_assigned_at IS NOT NULL")
        )
        outcomes = Counter(
            (await session.execute(text("SELECT outcome FROM decisions"))).scalars().all()
        )
    assert per_rep == {"ana": 4, "ben": 4}
    assert [row.status for row in first_lead] == ["rejected", "open"]
    assert first_lead[0].rep_id != first_lead[1].rep_id
    assert outcomes == {"mql": 8, "queued": 4}
    assert sum(credits.values()) == 0 and set(credits) == {"ana", "ben"}
    assert stamped == 2


async def test_concurrent_batches_share_the_team_lock_so_capacity_holds(router: Router) -> None:
    # Two instances' batches at once: the second waits for the first's commit, then reads the
    # seats the first left behind; East holds eight open leads at most.
    async def batch(events: list[LeadReceived]) -> None:
        async with router.sessions.begin() as session:
            for event in events:
                await router.handlers.handle(session, event)

    await asyncio.gather(*(batch([received(**HOT) for _ in range(7)]) for _ in range(2)))
    async with router.sessions() as session:
        per_rep = Counter(
            dict(
                (
                    await session.execute(
                        select(assignments.c.rep_id, func.count()).group_by(assignments.c.rep_id)
                    )
                ).all()
            )
        )
        queued = await session.scalar(select(func.count()).select_from(queued_leads))
    assert per_rep == {"ana": 4, "ben": 4}
    assert queued == 6


async def test_rejection_reassigns_to_another_rep_and_account_owner_gets_the_next_lead(
    router: Router,
) -> None:
    first = received(email="a@acme-corp.com", **HOT)
    await handle(router, first)
    (assigned,) = await routed(router)
    first_rep = assigned.data.rep_id

    def activity(kind: ActivityKind, reason: str | None = None) -> LeadActivityRecorded:
        return LeadActivityRecorded.build(
            source="test",
            time=MONDAY,
            data=LeadActivityData(
                activity_id=uuid.uuid4(),
                lead_id=first.data.lead_id,
                kind=kind,
                occurred_at=MONDAY,
                reason=reason,
            ),
        )

    await handle(router, activity("rejected", "wrong territory"))
    reassigned = [e for e in await routed(router) if e.type == "lead.assigned"]
    assert len(reassigned) == 2 and reassigned[1].data.rep_id != first_rep
    await handle(router, activity("accepted"))
    second = received(email="b@acme-corp.com", **HOT)
    await handle(router, second)
    owner_pick = [e for e in await routed(router) if e.subject == str(second.data.lead_id)]
    assert owner_pick[0].data.rep_id == reassigned[1].data.rep_id
    assert owner_pick[0].data.routing.rule == "account_owner:acme-corp.com"
    await handle(router, activity("rejected", "Not interested"))  # accepted leads can be rejected
    nurtured = [e for e in await routed(router) if e.type == "lead.nurtured"]
    assert nurtured[-1].data.reason == "rejected: Not interested"


async def test_an_account_claimed_inside_a_batch_routes_its_next_lead_to_the_owner(
    router: Router,
) -> None:
    # The batch's histories and owners are read before any event is handled; accepting the
    # first lead makes its rep the account's owner, and a later lead of the same company in the
    # same batch must see that owner, not the empty owner read up front.
    first = received(email="a@owned-co.com", **HOT)
    await handle(router, first)
    (assigned,) = await routed(router)
    accepted = LeadActivityRecorded.build(
        source="test",
        time=MONDAY,
        data=LeadActivityData(
            activity_id=uuid.uuid4(),
            lead_id=first.data.lead_id,
            kind="accepted",
            occurred_at=MONDAY,
        ),
    )
    second = received(email="b@owned-co.com", **HOT)
    await handle_batch(router, [accepted, second])
    (second_pick,) = [e for e in await routed(router) if e.subject == str(second.data.lead_id)]
    assert second_pick.data.rep_id == assigned.data.rep_id
    assert second_pick.data.routing.rule == "account_owner:owned-co.com"


async def test_the_backtest_reads_the_routers_stored_leads_with_reps_and_outcomes(
    router: Router,
) -> None:
    hot, cold = received(**HOT), received(job_title="Student", employee_count=3)
    for event in (hot, cold):
        await handle(router, event)
    for lead, kind in ((hot, "won"), (cold, "lost")):
        outcome = LeadActivityData(
            activity_id=uuid.uuid4(), lead_id=lead.data.lead_id, kind=kind, occurred_at=MONDAY
        )
        await handle(router, LeadActivityRecorded.build(source="test", time=MONDAY, data=outcome))
    (assigned,) = [e for e in await routed(router) if e.type == "lead.assigned"]
    arguments = [
        "--database-url",
        router.settings.database_url,
        "--roster",
        str(FIXTURES / "small_roster.yaml"),
        "--policy",
        str(router.settings.policy_file),
        "--json",
    ]
    # The command runs its own event loop, so it runs on a thread of its own here.
    result = await asyncio.to_thread(CliRunner().invoke, backtest_app, arguments)
    assert result.exit_code == 0, result.output
    overall = json.loads(result.output)["active"]
    assert overall["overall"] == {
        "leads": 2,
        "mql": 1,
        "mql_converted": 1,
        "non_mql": 1,
        "non_mql_converted": 0,
        "mql_conversion": 1.0,
        "non_mql_conversion": 0.0,
        "recall": 1.0,
    }
    assert list(overall["per_rep"]) == [assigned.data.rep_id]


async def test_api_manages_reps_policies_and_shadow_mode(router: Router) -> None:
    transport = httpx.ASGITransport(app=create_app(router))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://router", headers={"X-API-Key": KEY}
    ) as api:
        assert (await api.get("/reps", headers={"X-API-Key": "wrong"})).status_code == 401
        response = await api.post(
            "/policies", content=(FIXTURES / "broken_policy.yaml").read_text()
        )
        assert response.status_code == 422
        assert "line 7: fit.rules[0].when[0]" in response.json()["errors"][0]
        candidate = yaml.safe_load(RouterSettings().policy_file.read_text()) | {
            "version": "strict-1",
            "mql": {"min_grade": "A", "min_score": 90, "fast_track_grades": []},
        }
        response = await api.post("/policies", content=json.dumps(candidate))
        assert response.status_code == 201, response.text
        changed = candidate | {"description": "same version, other content"}
        assert (await api.post("/policies", content=json.dumps(changed))).status_code == 409
        preview = await api.post(
            "/policies/preview?version=strict-1",
            json={
                "sample": {
                    "lead": {"email": "x@acme.io", **HOT},
                    "signals": [["demo_request", MONDAY.isoformat()]],
                }
            },
        )
        assert preview.status_code == 200, preview.text
        body = preview.json()
        assert body["active"]["is_mql"] and not body["qualification"]["is_mql"]
        assert body["team"] == "East"
        status = await api.post("/policies/strict-1/status", json={"status": "shadow"})
        assert status.status_code == 200
        await handle(router, received(**HOT))
        report = (await api.get("/shadow/report")).json()
        assert report["versions"]["strict-1"]["disagreements"] == 1
        assert report["disagreements"][0]["active"]["mql"] is True
        response = await api.put(
            "/reps/ana", json={"name": "Ana", "team": "East", "away": True, "capacity": 4}
        )
        assert response.status_code == 200
        assert (await api.put("/reps/zed", json={"name": "Z", "team": "Nope"})).status_code == 409
        secret_url = "https://hooks.slack.test/services/T000/B000/secret-token"
        bad = await api.put(
            "/reps/ana", json={"name": "Ana", "team": "East", "capacity": secret_url}
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "capacity"]
        assert "secret-token" not in bad.text  # where and why, never the input itself
        await handle(router, received(**HOT))
        last = (await routed(router))[-1]
        assert last.data.rep_id == "ben" and last.data.routing.skipped == {"ana": "away"}
        history = (await api.get("/policies")).json()
        assert {(p["version"], p["status"]) for p in history} == {
            ("2026-11-default-2", "active"),
            ("strict-1", "shadow"),
        }
        activated = await api.post("/policies/strict-1/status", json={"status": "active"})
        assert activated.status_code == 200
        await handle(router, received(**HOT))
        assert (await routed(router))[-1].type == "lead.nurtured"
        assert (
            await api.post("/policies/nope/status", json={"status": "active"})
        ).status_code == 404
