"""The SLA ladder over days on the real broker: business hours in two time zones either side of
the date line, a national holiday, calendar hours for an ordinary MQL, and a kill -9 of the SLA
monitor with every remaining step falling due while it is down."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from handoff_shared.events import (
    CloudEvent,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadSnapshot,
    Qualification,
    RoutingDecision,
    WorkingHours,
)
from handoff_shared.kafka import KafkaPublisher, OutgoingRecord
from handoff_shared.topics import topic_for
from tests.harness import Stack, TopicReader, of_lead, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Wednesday 27 November 2030, 15:00 in New York: Thursday is Thanksgiving. The same instant is
# Thursday 28 November, 09:00 in Auckland.
ASSIGNED = datetime(2030, 11, 27, 20, 0, tzinfo=UTC)
WEEKDAYS_9_TO_5 = WorkingHours(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))


def utc(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2030, 11, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def assignment(rep: str, **extra: Any) -> LeadAssigned:
    lead_id = uuid.uuid4()
    data = LeadAssignedData(
        assignment_id=uuid.uuid4(),
        lead_id=lead_id,
        rep_id=rep,
        rep_name=rep,
        manager=f"manager-of-{rep}",
        team="e2e-hot",
        assigned_at=ASSIGNED,
        qualification=Qualification(
            policy_version="e2e", score=90, threshold=50, is_mql=True, rules_fired=[]
        ),
        routing=RoutingDecision(rule="e2e", team="e2e-hot", candidates=[rep]),
        lead=LeadSnapshot(lead_id=lead_id, email=f"{rep}@example.com", received_at=ASSIGNED),
        **extra,
    )
    return LeadAssigned.build(source="urn:e2e", time=ASSIGNED, data=data)


async def publish(stack: Stack, *events: CloudEvent) -> None:
    publisher = KafkaPublisher(stack.kafka_bootstrap, client_id="e2e-sla", send_timeout=30)
    try:
        await publisher.send_many(
            [
                OutgoingRecord(topic_for(e), e.subject.encode(), e.to_json(), headers=[])
                for e in events
            ]
        )
    finally:
        await publisher.stop()


def steps(events: list[dict[str, Any]], lead: str) -> list[tuple[str, str, str]]:
    """(type, milestone, due) of each ladder step of a lead, in topic order."""
    return [
        (e["type"].removeprefix("lead.sla."), e["data"]["milestone"], e["data"]["due_at"])
        for e in of_lead(events, lead)
        if e["type"] != "lead.sla.met"
    ]


async def test_ladder_over_days_in_two_time_zones_survives_a_kill_9(stack: Stack) -> None:
    new_york = assignment(
        "rep-nyc",
        priority="high",
        rep_time_zone="America/New_York",
        rep_country="US",
        rep_working_hours=WEEKDAYS_9_TO_5,
    )
    auckland = assignment(
        "rep-akl",
        priority="high",
        rep_time_zone="Pacific/Auckland",
        rep_country="NZ",
        rep_working_hours=WEEKDAYS_9_TO_5,
    )
    ordinary = assignment("rep-mql")
    accepted = assignment(
        "rep-fast", priority="high", rep_time_zone="America/New_York", rep_country="US"
    )
    leads = {
        name: event.subject
        for name, event in [
            ("nyc", new_york),
            ("akl", auckland),
            ("mql", ordinary),
            ("fast", accepted),
        ]
    }
    accept_activity = LeadActivityRecorded.build(
        source="urn:e2e",
        time=ASSIGNED,
        data=LeadActivityData(
            activity_id=uuid.uuid4(),
            lead_id=accepted.data.lead_id,
            kind="accepted",
            occurred_at=ASSIGNED + timedelta(minutes=30),
            rep_id="rep-fast",
        ),
    )
    sla_monitor = stack.services["sla-monitor"]
    async with TopicReader(stack.kafka_bootstrap, "lead.sla") as sla:
        await publish(stack, new_york, auckland, ordinary, accepted, accept_activity)
        await sla.wait_for(
            lambda seen: bool(of_lead(seen, leads["fast"], "lead.sla.met")), 60, "accept met"
        )
        try:
            # Wednesday 20:50 UTC: both hot leads are 10 minutes from their accept deadline.
            stack.move_sla_clock(datetime(2030, 11, 27, 20, 50, tzinfo=UTC) - _now())
            await sla.wait_for(
                lambda seen: all(
                    of_lead(seen, leads[name], "lead.sla.warned") for name in ("nyc", "akl")
                ),
                60,
                "the accept warnings",
            )
            sla_monitor.kill_hard()
            # While it is down the clock runs on to Sunday: every later step falls due.
            stack.move_sla_clock(datetime(2030, 12, 1, 21, 0, tzinfo=UTC) - _now())
            sla_monitor.start()
            events = await sla.wait_for(
                lambda seen: all(
                    of_lead(seen, leads[name], "lead.sla.recycled")
                    for name in ("nyc", "akl", "mql", "fast")
                ),
                90,
                "every lead recycled after the restart",
            )
        finally:
            stack.move_sla_clock(timedelta(0))
    wait_until(
        lambda: sla_monitor.process is not None and sla_monitor.process.poll() is None,
        timeout=5,
        what="the SLA monitor alive after its restart",
        stack=stack,
    )

    # New York: Thanksgiving does not count; 2 h on Wednesday, the rest on Friday.
    assert steps(events, leads["nyc"]) == [
        ("warned", "accept", utc(27, 20, 45)),
        ("escalated", "accept", utc(27, 21)),
        ("escalated", "first_touch", utc(29, 16)),
        ("recycled", "first_touch", utc(29, 20)),
    ]
    # Auckland: the same instant is Thursday 09:00 there, an ordinary working day.
    assert steps(events, leads["akl"]) == [
        ("warned", "accept", utc(27, 20, 45)),
        ("escalated", "accept", utc(27, 21)),
        ("escalated", "first_touch", utc(28, 0)),
        ("recycled", "first_touch", utc(28, 4)),
    ]
    # An ordinary MQL counts calendar hours: 48 h to escalate, 72 h to recycle.
    assert steps(events, leads["mql"]) == [
        ("escalated", "first_touch", utc(29, 20)),
        ("recycled", "first_touch", utc(30, 20)),
    ]
    # Accepted in time: only the touch milestone walks its ladder.
    assert steps(events, leads["fast"]) == [
        ("escalated", "first_touch", utc(29, 16)),
        ("recycled", "first_touch", utc(29, 20)),
    ]
    (met,) = of_lead(events, leads["fast"], "lead.sla.met")
    assert met["data"]["within_target"] and met["data"]["counted_seconds"] == 1800

    ours = [e for e in events if e["subject"] in leads.values()]
    assert all(count == 1 for count in Counter(e["id"] for e in ours).values())
    recycled = of_lead(events, leads["nyc"], "lead.sla.recycled")[0]["data"]
    assert recycled["recycle_to"] == "reassign" and recycled["clock"] == "business"
    assert of_lead(events, leads["mql"], "lead.sla.recycled")[0]["data"]["recycle_to"] == "nurture"


def _now() -> datetime:
    return datetime.now(UTC)
