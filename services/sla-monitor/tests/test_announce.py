"""What people are told about each ladder step."""

import uuid
from datetime import UTC, datetime

from handoff_shared.events import LeadRecycled, SlaEscalated, SlaMet, SlaMetData, SlaStepData
from handoff_sla.announce import ladder_message

DUE = datetime(2030, 11, 29, 16, 0, tzinfo=UTC)


def step(**extra: object) -> SlaStepData:
    return SlaStepData.model_validate(
        {
            "obligation_id": uuid.uuid4(),
            "lead_id": uuid.uuid4(),
            "assignment_id": uuid.uuid4(),
            "rep_id": "rep-nyc",
            "manager": "dana",
            "milestone": "first_touch",
            "policy": "hot-hand-raise@1",
            "assigned_at": DUE,
            "due_at": DUE,
            "fired_at": DUE,
            **extra,
        }
    )


def test_an_escalation_names_the_rep_the_manager_and_the_deadline() -> None:
    event = SlaEscalated.build(source="s", time=DUE, data=step())
    message = ladder_message(event)
    assert message is not None
    assert message.event_type == "lead.sla.escalated"
    assert "dana" in message.text and "rep-nyc" in message.text
    assert "2030-11-29 16:00 UTC" in message.text
    assert message.fields["Manager"] == "dana"
    assert message.payload["id"] == event.id


def test_a_recycle_says_where_the_lead_goes() -> None:
    message = ladder_message(
        LeadRecycled.build(source="s", time=DUE, data=step(recycle_to="reassign"))
    )
    assert message is not None and "reassign" in message.text


def test_a_met_milestone_is_not_a_ladder_step() -> None:
    met = SlaMetData(
        obligation_id=uuid.uuid4(),
        lead_id=uuid.uuid4(),
        assignment_id=uuid.uuid4(),
        rep_id="r",
        milestone="accept",
        policy="p",
        assigned_at=DUE,
        met_at=DUE,
        elapsed_seconds=0,
    )
    assert ladder_message(SlaMet.build(source="s", time=DUE, data=met)) is None
