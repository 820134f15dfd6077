"""A signed webhook to the running intake process becomes one lead.received on Kafka, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from tests.harness import Stack, TopicReader, of_lead

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECRET = "e2e-webhook-secret-0123456789"


async def test_a_signed_webhook_is_published_once_even_when_delivered_twice(stack: Stack) -> None:
    source_id = f"e2e-{uuid.uuid4().hex[:8]}"
    async with stack.client() as client:
        created = await client.put(
            f"/admin/sources/{source_id}",
            json={
                "kind": "generic",
                "secrets": [SECRET],
                "default_region": "GB",
                "options": {
                    "signature_header": "X-Signature",
                    "delivery_id_path": "id",
                    "field_map": {"email": "email", "first_name": "name", "phone": "phone"},
                },
            },
        )
        assert created.status_code == 201, created.text
        assert SECRET not in created.text
        email = f"Hook-{uuid.uuid4().hex[:8]}@Example-Co.com"
        body = json.dumps(
            {"id": uuid.uuid4().hex, "email": email, "name": "Hana", "phone": "020 7946 0958"}
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Signature": signature}
        first = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
        again = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert first.status_code == again.status_code == 202, first.text
    assert first.content == again.content
    lead_id = first.json()["leads"][0]["lead_id"]

    async with TopicReader(stack.kafka_bootstrap, "lead.intake") as intake_topic:
        events = await intake_topic.wait_for(
            lambda seen: bool(of_lead(seen, lead_id, "lead.received")),
            timeout=60,
            what="the webhook's lead.received",
        )
    (received,) = of_lead(events, lead_id)
    assert received["data"]["email"] == email.lower()
    assert received["data"]["phone"] == "+442079460958"
    assert received["data"]["first_name"] == "Hana"
