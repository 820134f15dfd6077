"""The CRM's REST API on real PostgreSQL and Kafka: scopes, idempotency, updates, search."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from handoff_intake.bootstrap import Intake

from .conftest import new_email

pytestmark = pytest.mark.integration


async def issue_key(client: httpx.AsyncClient, *scopes: str) -> dict[str, str]:
    response = await client.post("/admin/api-keys", json={"name": "crm", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


async def test_every_endpoint_checks_the_keys_scope(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    reader = await issue_key(client, "leads:read")
    writer = await issue_key(client, "leads:write")
    lead = {"email": new_email()}
    assert (await client.post("/leads", json=lead, headers=reader)).status_code == 403
    created = await client.post("/leads", json=lead, headers=writer)
    assert created.status_code == 202
    lead_id = created.json()["lead_id"]
    assert (await client.get(f"/leads/{lead_id}", headers=writer)).status_code == 403
    assert (await client.get(f"/leads/{lead_id}", headers=reader)).status_code == 200
    activity = {"kind": "accepted"}
    assert (
        await client.post(f"/leads/{lead_id}/activities", json=activity, headers=writer)
    ).status_code == 403
    assert (await client.get("/admin/sources", headers=writer)).status_code == 403
    assert (await client.get(f"/leads/{lead_id}", headers={"X-API-Key": "nope"})).status_code == 401
    assert (await client.get(f"/leads/{lead_id}", headers={"X-API-Key": ""})).status_code == 401


async def test_a_revoked_key_stops_working_and_keys_are_listed_by_hint_only(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    created = await client.post("/admin/api-keys", json={"name": "tmp", "scopes": ["leads:read"]})
    key = created.json()["key"]
    listing = (await client.get("/admin/api-keys")).text
    assert key not in listing and key[-4:] in listing
    assert (await client.delete(f"/admin/api-keys/{created.json()['id']}")).status_code == 204
    assert (await client.get("/leads", headers={"X-API-Key": key})).status_code == 401


async def test_the_same_idempotency_key_replays_the_answer_and_a_different_body_is_422(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    key = {"Idempotency-Key": uuid.uuid4().hex}
    lead = {"email": new_email(), "first_name": "Ann"}
    first, again = await asyncio.gather(
        client.post("/leads", json=lead, headers=key), client.post("/leads", json=lead, headers=key)
    )
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert first.json()["outcome"] == "created"
    changed = await client.post("/leads", json={**lead, "first_name": "Bo"}, headers=key)
    assert changed.status_code == 422
    view = (await client.get(f"/leads/{first.json()['lead_id']}")).json()
    assert view["lead"]["first_name"] == "Ann"


async def test_patch_updates_a_lead_and_keeps_its_timeline(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    created = await client.post("/leads", json={"email": new_email(), "country": "France"})
    lead_id = created.json()["lead_id"]
    patched = await client.patch(
        f"/leads/{lead_id}", json={"job_title": "CTO", "phone": "01 23 45 67 89"}
    )
    assert patched.json() == {"lead_id": lead_id, "outcome": "updated"}
    view = (await client.get(f"/leads/{lead_id}")).json()
    assert view["lead"]["job_title"] == "CTO"
    assert view["lead"]["country"] == "FR"
    assert [entry["kind"] for entry in view["timeline"]] == ["received", "updated"]
    assert view["lead"]["phone"] == "+33123456789"
    assert view["timeline"][1]["detail"]["changed_fields"] == ["job_title", "phone"]
    bad_phone = await client.patch(f"/leads/{lead_id}", json={"phone": "12"})
    assert bad_phone.status_code == 422
    assert bad_phone.json()["detail"][0]["loc"] == ["body", "phone"]
    missing = await client.patch(f"/leads/{uuid.uuid4()}", json={"job_title": "CTO"})
    assert missing.status_code == 404


async def test_activities_need_their_details_and_land_on_the_timeline(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    lead_id = (await client.post("/leads", json={"email": new_email()})).json()["lead_id"]
    path = f"/leads/{lead_id}/activities"
    refused = {
        "unlisted reason": {"kind": "rejected", "reason": "felt like it"},
        "no channel": {"kind": "contacted"},
        "no amount": {"kind": "won"},
    }
    for what, body in refused.items():
        assert (await client.post(path, json=body)).status_code == 422, what
    reported = [
        {"kind": "accepted", "rep_id": "rep-1"},
        {"kind": "contacted", "channel": "call"},
        {"kind": "meeting_booked"},
        {"kind": "won", "amount": "12000.00"},
    ]
    for body in reported:
        assert (await client.post(path, json=body)).status_code == 202
    rejected = await client.post(path, json={"kind": "rejected", "reason": "no_budget"})
    assert rejected.status_code == 202
    kinds = [entry["kind"] for entry in (await client.get(f"/leads/{lead_id}")).json()["timeline"]]
    assert kinds[0] == "received"
    assert set(kinds[1:]) >= {
        "activity.accepted",
        "activity.contacted",
        "activity.meeting_booked",
        "activity.won",
        "activity.rejected",
    }
    unknown = await client.post(f"/leads/{uuid.uuid4()}/activities", json={"kind": "accepted"})
    assert unknown.status_code == 404


async def test_search_filters_and_pages_through_leads(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    since = datetime.now(UTC) - timedelta(seconds=1)
    campaign = uuid.uuid4().hex
    emails = [new_email() for _ in range(5)]
    for email in emails:
        await client.post("/leads", json={"email": email, "campaign": campaign})
    by_email = (await client.get("/leads", params={"email": emails[2].upper()})).json()
    assert [item["email"] for item in by_email["items"]] == [emails[2]]
    seen: list[str] = []
    params: dict[str, str | int] = {
        "source": "api",
        "created_from": since.isoformat(),
        "limit": 2,
    }
    while True:
        page = (await client.get("/leads", params=params)).json()
        seen += [item["email"] for item in page["items"] if item["lead"]["campaign"] == campaign]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(emails)
    bad_cursor = await client.get("/leads", params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 422


async def test_text_the_database_cannot_hold_is_422_not_500(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    lead = await client.post("/leads", json={"email": new_email(), "first_name": "A\u0000n"})
    assert lead.status_code == 422
    key = await client.post(
        "/admin/api-keys",
        content=b'{"name": "\\udb5e", "scopes": ["admin"]}',
        headers={"Content-Type": "application/json"},
    )
    assert key.status_code == 422
    search = await client.get("/leads", params={"status": "\u0000"})
    assert search.status_code == 422


async def test_a_refused_source_does_not_echo_its_secrets(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    secrets = [f"super-secret-{index}-{uuid.uuid4().hex}" for index in range(3)]
    refused = await client.put(
        "/admin/sources/too-many-secrets", json={"kind": "generic", "secrets": secrets}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "secrets"]
    assert not any(secret in refused.text for secret in secrets)
