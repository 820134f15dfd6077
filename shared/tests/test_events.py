import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from handoff_shared.events import (
    EVENT_CLASSES,
    LeadReceived,
    LeadSnapshot,
    decode_event,
    deterministic_id,
    event_json_schema,
)
from handoff_shared.topics import TOPICS, topic_for

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def snapshot() -> LeadSnapshot:
    return LeadSnapshot(lead_id=uuid.uuid4(), email="ann@example.com", received_at=NOW)


def test_an_event_survives_the_wire_and_keeps_its_cloudevents_attributes() -> None:
    lead = snapshot()
    event = LeadReceived.build(source="urn:handoff:intake", time=NOW, data=lead)

    decoded = decode_event(event.to_json())

    assert decoded == event
    assert isinstance(decoded, LeadReceived)
    assert decoded.specversion == "1.0"
    assert decoded.subject == str(lead.lead_id)
    assert decoded.dataschema == "urn:handoff:event:lead.received:v1"


def test_deterministic_ids_repeat_for_the_same_fact_only() -> None:
    lead_id = uuid.uuid4()
    assert deterministic_id("assignment", lead_id, 1) == deterministic_id("assignment", lead_id, 1)
    assert deterministic_id("assignment", lead_id, 1) != deterministic_id("assignment", lead_id, 2)


def test_unknown_type_and_missing_fields_are_refused() -> None:
    event = LeadReceived.build(source="s", time=NOW, data=snapshot())
    wrong_type = event.to_json().replace(b'"lead.received"', b'"lead.exploded"')
    with pytest.raises(ValidationError):
        decode_event(wrong_type)
    with pytest.raises(ValidationError):
        decode_event(b'{"specversion": "1.0", "type": "lead.received"}')
    with pytest.raises(ValidationError):
        decode_event(b"not json")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError):
        LeadSnapshot(lead_id=uuid.uuid4(), email="a@b.c", received_at=datetime(2026, 1, 1))


def test_every_event_type_has_exactly_one_topic_and_a_schema() -> None:
    types_on_topics = [event.event_type for topic in TOPICS for event in topic.events]
    assert sorted(types_on_topics) == sorted(cls.event_type for cls in EVENT_CLASSES)
    schema = event_json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(types_on_topics)
    event = LeadReceived.build(source="s", time=NOW, data=snapshot())
    assert topic_for(event) == "lead.intake"
