"""Intake in-process (its real lifespan) on the session's real PostgreSQL and Kafka."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from handoff_intake.bootstrap import Intake
from handoff_intake.entrypoints.http import create_app
from handoff_intake.settings import IntakeSettings

ADMIN_KEY = "integration-admin-key"
BASE_URL = "http://intake.test"
SECRET = "whsec-integration-0123456789"

RunningIntake = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Intake]]]


@pytest.fixture
def running_intake(postgres_url: str, kafka_bootstrap: str) -> RunningIntake:
    """Start intake with its real lifespan; keyword arguments override settings."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
        settings = IntakeSettings(
            **{
                "database_url": postgres_url,
                "kafka_bootstrap_servers": kafka_bootstrap,
                "environment": "test",
                "api_keys": [ADMIN_KEY],
                "public_base_url": BASE_URL,
                "source_rate_limit": "10000/second",
                "kafka_send_timeout_seconds": 2.0,
                # A group of its own: an app that stops mid-join would otherwise make the next
                # one's join (and its shutdown) wait out the broker's rebalance timeout.
                "consumer_group": f"intake-test-{uuid.uuid4().hex[:8]}",
                **overrides,
            }
        )
        app: FastAPI = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url=BASE_URL,
                headers={"X-API-Key": ADMIN_KEY},
            ) as client,
        ):
            yield client, app.state.intake

    return start


@pytest.fixture
async def intake(running_intake: RunningIntake) -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
    async with running_intake() as started:
        yield started


async def add_source(client: httpx.AsyncClient, **settings: Any) -> str:
    """A generic HMAC-signed JSON source with a fresh id."""
    source_id = f"src-{uuid.uuid4().hex[:10]}"
    body = {
        "kind": "generic",
        "secrets": [SECRET],
        "options": {
            "signature_header": "X-Signature",
            "signature_prefix": "sha256=",
            "delivery_id_path": "delivery",
            "external_id_path": "contact.id",
            "field_map": {
                "email": "contact.email",
                "first_name": "contact.first",
                "phone": "contact.phone",
                "country": "contact.country",
            },
        },
        "default_region": "DE",
        "default_campaign": "spring-launch",
        **settings,
    }
    response = await client.put(f"/admin/sources/{source_id}", json=body)
    assert response.status_code == 201, response.text
    return source_id


def signed(payload: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Signature": f"sha256={digest}"}


def new_email() -> str:
    return f"lead-{uuid.uuid4().hex[:12]}@acme-{uuid.uuid4().hex[:4]}.example"


def delivery(email: str, **contact: Any) -> dict[str, Any]:
    return {"delivery": uuid.uuid4().hex, "contact": {"email": email, **contact}}
