"""A lead travels from HTTP to an assigned rep to an SLA escalation, on real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Stack, TopicReader, of_lead, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HOT = {"form_type": "demo_request", "employee_count": 400, "job_title": "VP Sales"}
COLD = {"form_type": "newsletter", "job_title": "Student"}


def email() -> str:
    return f"lead-{uuid.uuid4().hex[:12]}@example-{uuid.uuid4().hex[:4]}.com"


async def post_lead(stack: Stack, **fields: Any) -> str:
    async with stack.client() as client:
        response = await client.post("/leads", json={"email": email(), **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["lead_id"])


async def test_a_hot_lead_is_assigned_with_its_reasons_and_a_cold_one_nurtured(
    stack: Stack,
) -> None:
    hot = await post_lead(stack, first_name="Hana", **HOT)
    cold = await post_lead(stack, first_name="Colm", **COLD)

    async with TopicReader(stack.kafka_bootstrap, "lead.routing") as routing:
        events = await routing.wait_for(
            lambda seen: bool(
                of_lead(seen, hot, "lead.assigned") and of_lead(seen, cold, "lead.nurtured")
            ),
            timeout=60,
            what="the hot lead assigned and the cold one nurtured",
        )
    (assigned,) = of_lead(events, hot, "lead.assigned")
    assert assigned["_key"] == hot
    assert assigned["specversion"] == "1.0"
    assert assigned["_headers"]["traceparent"].startswith("00-")
    packet = assigned["data"]["qualification"]
    assert packet["is_mql"] and packet["policy_version"]
    assert {hit["rule"] for hit in packet["rules_fired"]} == {
        "hand_raise",
        "mid_market_or_larger",
        "senior_title",
        "buying_department",
        "business_email",
    }
    assert assigned["data"]["rep_id"] in assigned["data"]["routing"]["candidates"]
    assert assigned["data"]["lead"]["first_name"] == "Hana"
    assert not of_lead(events, hot, "lead.nurtured")
    (nurtured,) = of_lead(events, cold, "lead.nurtured")
    assert "below" in nurtured["data"]["reason"]

    async with stack.client() as client:
        view = (await client.get(f"/leads/{hot}")).json()
        metrics = (await client.get("/metrics")).text
    kinds = [entry["kind"] for entry in view["timeline"]]
    assert kinds[0] == "received"
    # Ops can see the leads go out: intake's relay counts what it put on Kafka.
    published = {
        (sample.labels["topic"], sample.labels["type"]): sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "handoff_events_published"
        for sample in family.samples
        if sample.name == "handoff_events_published_total"
    }
    assert published[("lead.intake", "lead.received")] >= 2


async def test_untouched_lead_escalates_then_recycles_and_a_touched_one_is_met(
    stack: Stack,
) -> None:
    untouched = await post_lead(stack, **HOT)
    touched = await post_lead(stack, **HOT)
    async with TopicReader(stack.kafka_bootstrap, "lead.routing") as routing:
        await routing.wait_for(
            lambda seen: all(of_lead(seen, lead, "lead.assigned") for lead in (untouched, touched)),
            timeout=60,
            what="both leads assigned",
        )
    async with stack.client() as client:
        response = await client.post(
            f"/leads/{touched}/activities", json={"kind": "contacted", "channel": "call"}
        )
        assert response.status_code == 202

    async with TopicReader(stack.kafka_bootstrap, "lead.sla") as sla:
        await sla.wait_for(lambda seen: bool(of_lead(seen, touched, "lead.sla.met")), 60, "met")
        try:
            stack.move_sla_clock(timedelta(hours=49))
            await sla.wait_for(
                lambda seen: bool(of_lead(seen, untouched, "lead.sla.escalated")), 60, "escalation"
            )
            stack.move_sla_clock(timedelta(hours=73))
            events = await sla.wait_for(
                lambda seen: bool(of_lead(seen, untouched, "lead.sla.recycled")), 60, "recycle"
            )
        finally:
            stack.move_sla_clock(timedelta(0))

    assert [e["type"] for e in of_lead(events, untouched)] == [
        "lead.sla.escalated",
        "lead.sla.recycled",
    ]
    escalation = of_lead(events, untouched, "lead.sla.escalated")[0]["data"]
    assert escalation["manager"] and escalation["milestone"] == "first_touch"
    assert [e["type"] for e in of_lead(events, touched)] == ["lead.sla.met"]

    async with TopicReader(stack.kafka_bootstrap, "lead.routing") as routing:
        events = await routing.wait_for(
            lambda seen: bool(of_lead(seen, untouched, "lead.nurtured")),
            60,
            "the recycled lead nurtured",
        )
    assert of_lead(events, untouched, "lead.nurtured")[0]["data"]["reason"].startswith(
        "sla_recycled"
    )

    async with stack.client() as client:
        view = (await client.get(f"/leads/{untouched}")).json()
    kinds = [entry["kind"] for entry in view["timeline"]]
    assert {"received", "assigned", "sla.escalated", "sla.recycled"} <= set(kinds)


async def test_router_killed_mid_stream_assigns_every_lead_exactly_once(stack: Stack) -> None:
    router = stack.services["router"]
    leads: list[str] = []

    async def post_many(count: int) -> None:
        async with stack.client() as client:
            semaphore = asyncio.Semaphore(16)

            async def one() -> None:
                async with semaphore:
                    response = await client.post("/leads", json={"email": email(), **HOT})
                    assert response.status_code == 202, response.text
                    leads.append(response.json()["lead_id"])

            await asyncio.gather(*(one() for _ in range(count)))

    async with TopicReader(stack.kafka_bootstrap, "lead.routing") as routing:
        posting = asyncio.create_task(post_many(400))
        await routing.wait_for(
            lambda seen: len({e["subject"] for e in seen if e["subject"] in set(leads)}) >= 40,
            timeout=60,
            what="the router to be mid-stream",
        )
        router.kill_hard()
        await asyncio.sleep(0.5)
        router.start()
        await posting
        accepted = set(leads)
        events = await routing.wait_for(
            lambda seen: accepted <= {e["subject"] for e in seen if e["type"] == "lead.assigned"},
            timeout=120,
            what="every accepted lead assigned",
        )
    assignment_ids = {
        (e["subject"], e["id"])
        for e in events
        if e["type"] == "lead.assigned" and e["subject"] in accepted
    }
    per_lead = Counter(lead for lead, _ in assignment_ids)
    assert len(accepted) == 400
    assert set(per_lead) == accepted
    assert set(per_lead.values()) == {1}, "a lead got two different assignments"

    connection = await asyncpg.connect(stack.postgres_url.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch(
            "SELECT lead_id::text AS lead, count(*) AS n FROM router.assignments GROUP BY lead_id"
        )
    finally:
        await connection.close()
    stored = {row["lead"]: row["n"] for row in rows if row["lead"] in accepted}
    assert stored == dict.fromkeys(accepted, 1)
    wait_until(
        lambda: router.process is not None and router.process.poll() is None,
        timeout=5,
        what="router alive",
        stack=stack,
    )
