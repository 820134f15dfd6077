"""The webhook edge on real PostgreSQL and Kafka: every answer it can give, replays, dedup."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from handoff_intake.adapters.secret_box import SecretsLocked
from handoff_intake.adapters.tables import deliveries, leads, outbox, sources
from handoff_intake.bootstrap import Intake
from handoff_intake.domain.leads import prepare_submission
from handoff_intake.handlers import ReceiveResult

from .conftest import SECRET, RunningIntake, add_source, delivery, new_email, signed

pytestmark = pytest.mark.integration


async def count_leads(intake: Intake, email: str) -> int:
    async with intake.sessions() as session:
        return int(await session.scalar(select(func.count()).where(leads.c.email == email)) or 0)


async def test_a_signed_delivery_is_stored_normalised_and_answered_202(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    email = new_email()
    body, headers = signed(
        delivery(email.upper(), first="Ann", phone="030 1234567", country="Germany", id="c-1")
    )
    response = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["leads"]
    assert accepted["outcome"] == "created"
    lead = (await client.get(f"/leads/{accepted['lead_id']}")).json()
    assert lead["lead"]["email"] == email
    assert lead["lead"]["phone"] == "+49301234567"
    assert lead["lead"]["country"] == "DE"
    assert lead["lead"]["campaign"] == "spring-launch"
    assert lead["lead"]["company_domain"] == email.split("@")[1]
    assert [entry["kind"] for entry in lead["timeline"]] == ["received"]
    async with runtime.sessions() as session:
        raw = await session.scalar(
            select(deliveries.c.body).where(deliveries.c.channel == f"webhook:{source_id}")
        )
    assert raw == body


async def test_a_redelivery_gets_the_first_answer_and_makes_no_event(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    body, headers = signed(delivery(new_email(), first="Ann"))
    first = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    async with runtime.sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(outbox))
    again = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    async with runtime.sessions() as session:
        # Published rows leave the outbox, so no growth is the strongest check available here.
        events_after = await session.scalar(select(func.count()).select_from(outbox))
    assert events_after is not None and events_before is not None
    assert events_after <= events_before


async def test_concurrent_duplicate_deliveries_make_one_lead(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    email = new_email()
    body, headers = signed(delivery(email, first="Ann"))
    answers = await asyncio.gather(
        *(client.post(f"/webhooks/{source_id}", content=body, headers=headers) for _ in range(8))
    )
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["leads"][0]["lead_id"] for answer in answers}) == 1
    assert await count_leads(runtime, email) == 1


async def test_the_same_person_submitting_at_once_twice_makes_one_lead_then_an_update(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    email = new_email()
    posts = []
    for name in ("Ann", "Anna", "Annie", "Anne"):
        body, headers = signed(delivery(email, first=name))
        posts.append(client.post(f"/webhooks/{source_id}", content=body, headers=headers))
    answers = await asyncio.gather(*posts)
    outcomes = sorted(answer.json()["leads"][0]["outcome"] for answer in answers)
    assert outcomes == ["created", "updated", "updated", "updated"]
    assert await count_leads(runtime, email) == 1
    lead_id = answers[0].json()["leads"][0]["lead_id"]
    view = (await client.get(f"/leads/{lead_id}")).json()
    assert [entry["kind"] for entry in view["timeline"]] == ["received", *["updated"] * 3]


async def test_one_person_in_two_transactions_at_once_makes_one_lead_then_an_update(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    _, runtime = intake
    email = new_email()

    async def receive(first_name: str) -> list[ReceiveResult]:
        async with runtime.sessions.begin() as session:
            submission = prepare_submission(email, {"first_name": first_name}, {})
            return await runtime.handlers.receive_leads(session, [submission])

    (first,), (second,) = await asyncio.gather(receive("Ann"), receive("Anna"))
    assert sorted([first.outcome, second.outcome]) == ["created", "updated"]
    assert first.lead_id == second.lead_id
    assert await count_leads(runtime, email) == 1


async def test_requests_arriving_while_the_sources_are_stale_share_one_reload(
    intake: tuple[httpx.AsyncClient, Intake], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    catalog = runtime.catalog
    reloads = 0
    reload = catalog.reload

    async def counted_reload() -> None:
        nonlocal reloads
        reloads += 1
        await reload()

    monkeypatch.setattr(catalog, "reload", counted_reload)
    monkeypatch.setattr(catalog, "_loaded_at", float("-inf"))  # the cached copy has expired
    found = await asyncio.gather(*(catalog.get(source_id) for _ in range(20)))
    assert reloads == 1
    assert all(source is not None and source.config.source_id == source_id for source in found)


async def test_the_same_external_id_with_a_new_email_updates_the_lead(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    source_id = await add_source(client)
    external_id = uuid.uuid4().hex
    body, headers = signed(delivery(new_email(), id=external_id))
    first = (await client.post(f"/webhooks/{source_id}", content=body, headers=headers)).json()
    body, headers = signed(delivery(new_email(), id=external_id, first="Ann"))
    second = (await client.post(f"/webhooks/{source_id}", content=body, headers=headers)).json()
    assert second["leads"][0] == {"lead_id": first["leads"][0]["lead_id"], "outcome": "updated"}


async def test_unknown_source_is_404(intake: tuple[httpx.AsyncClient, Intake]) -> None:
    client, _ = intake
    body, headers = signed(delivery(new_email()))
    response = await client.post("/webhooks/no-such-source", content=body, headers=headers)
    assert response.status_code == 404


async def test_bad_or_missing_signature_is_401_and_stores_nothing(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    email = new_email()
    body, headers = signed(delivery(email), secret="not-the-secret")
    forged = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert forged.status_code == 401
    _, good_headers = signed(delivery(email))
    tampered = await client.post(
        f"/webhooks/{source_id}", content=body.replace(b"lead-", b"leaf-"), headers=good_headers
    )
    assert tampered.status_code == 401
    unsigned = await client.post(
        f"/webhooks/{source_id}", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert await count_leads(runtime, email) == 0


async def test_both_secrets_work_during_a_rotation_and_only_hints_are_shown(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    source_id = await add_source(client)
    new_secret = "whsec-rotated-abcdefghijklmnop"
    rotated = await client.post(f"/admin/sources/{source_id}/secrets", json={"secret": new_secret})
    assert rotated.status_code == 200
    assert rotated.json()["secrets"] == ["…mnop", "…6789"]
    assert new_secret not in rotated.text
    for secret in (new_secret, "whsec-integration-0123456789"):
        body, headers = signed(delivery(new_email()), secret=secret)
        answer = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
        assert answer.status_code == 202, answer.text


async def test_oversize_body_is_413_by_length_or_by_counting_a_chunked_stream(
    running_intake: RunningIntake,
) -> None:
    async with running_intake(max_body_bytes=2048) as (client, _):
        source_id = await add_source(client)
        body, headers = signed(delivery(new_email(), first="x" * 4000))
        declared = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
        assert declared.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        streamed = await client.post(f"/webhooks/{source_id}", content=chunks(), headers=headers)
        assert "content-length" not in {name.lower() for name in streamed.request.headers}
        assert streamed.status_code == 413


async def test_wrong_content_type_is_415(intake: tuple[httpx.AsyncClient, Intake]) -> None:
    client, _ = intake
    source_id = await add_source(client)
    body, headers = signed(delivery(new_email()))
    response = await client.post(
        f"/webhooks/{source_id}", content=body, headers={**headers, "Content-Type": "image/png"}
    )
    assert response.status_code == 415


async def test_a_lead_without_a_valid_email_is_422_with_the_field(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    source_id = await add_source(client)
    body, headers = signed(delivery("not-an-email", first="Ann"))
    response = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "leads", 0, "email"]
    truncated = b'{"delivery": "x", "contact": {"email"'
    digest = hmac.new(SECRET.encode(), truncated, hashlib.sha256).hexdigest()
    broken = await client.post(
        f"/webhooks/{source_id}",
        content=truncated,
        headers={"Content-Type": "application/json", "X-Signature": f"sha256={digest}"},
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["loc"] == ["body"]


async def test_past_the_rate_limit_is_429_with_retry_after(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = intake
    source_id = await add_source(client, rate_limit="3/minute")
    statuses = []
    for _ in range(4):
        body, headers = signed(delivery(new_email()))
        response = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429]
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_replay_sharing_a_group_commit_does_not_hold_back_the_others(
    intake: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, runtime = intake
    source_id = await add_source(client)
    replayed_body, replayed_headers = signed(delivery(new_email()))
    first = await client.post(
        f"/webhooks/{source_id}", content=replayed_body, headers=replayed_headers
    )
    fresh = [signed(delivery(new_email())) for _ in range(6)]
    answers = await asyncio.gather(
        client.post(f"/webhooks/{source_id}", content=replayed_body, headers=replayed_headers),
        *(
            client.post(f"/webhooks/{source_id}", content=body, headers=headers)
            for body, headers in fresh
        ),
    )
    assert answers[0].content == first.content
    assert answers[0].headers["Idempotent-Replayed"] == "true"
    assert [answer.json()["leads"][0]["outcome"] for answer in answers[1:]] == ["created"] * 6
    async with runtime.sessions() as session:
        stored = await session.scalar(
            select(func.count()).where(deliveries.c.channel == f"webhook:{source_id}")
        )
    assert stored == 7


async def test_secrets_are_sealed_at_rest_once_a_key_is_set_and_still_verify_webhooks(
    running_intake: RunningIntake, tmp_path: Path
) -> None:
    # A database of its own: sealing reseals every source, and other tests run without the key.
    database = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"}
    key = Fernet.generate_key().decode()

    async def stored_secrets(runtime: Intake, source_id: str) -> list[str]:
        async with runtime.sessions() as session:
            row = await session.scalar(select(sources.c.secrets).where(sources.c.id == source_id))
        return list(row or [])

    async with running_intake(**database) as (client, runtime):
        before_the_key = await add_source(client)
        assert await stored_secrets(runtime, before_the_key) == [SECRET]
    async with running_intake(**database, secrets_keys=[key]) as (client, runtime):
        after_the_key = await add_source(client)
        stored = [
            *await stored_secrets(runtime, before_the_key),
            *await stored_secrets(runtime, after_the_key),
        ]
        for source_id in (before_the_key, after_the_key):
            body, headers = signed(delivery(new_email()))
            answer = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
            assert answer.status_code == 202, answer.text
        listed = (await client.get(f"/admin/sources/{after_the_key}")).json()
    assert all(value.startswith("fernet:") and SECRET not in value for value in stored)
    assert listed["secrets"] == ["…6789"]
    with pytest.raises(SecretsLocked, match="INTAKE_SECRETS_KEYS is not set"):
        async with running_intake(**database):
            pass
