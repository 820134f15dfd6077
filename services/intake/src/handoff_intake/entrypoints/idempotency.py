"""Run a request's work once per (channel, delivery id); a replay gets the first answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_intake.bootstrap import Intake
from handoff_intake.domain.normalise import storable
from handoff_intake.handlers import AlreadyDelivered, Delivery, StoredAnswer

MAX_DELIVERY_ID = 200

Work = Callable[[AsyncSession], Awaitable[tuple[StoredAnswer, list[str]]]]


def fingerprint(*parts: bytes | str) -> str:
    """A SHA-256 over a request's identifying parts."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def delivery_key(presented: str | None, body: bytes) -> str:
    """The id a delivery is deduplicated by: the tool's own, or the body's hash without one."""
    if presented is None:
        return f"sha256:{fingerprint(body)}"
    if len(presented) <= MAX_DELIVERY_ID and storable(presented) == presented:
        return presented
    return f"sha256:{fingerprint(presented)}"


def json_answer(status_code: int, content: Any, request_hash: str) -> StoredAnswer:
    return StoredAnswer(
        status_code, "application/json", json.dumps(content, default=str).encode(), request_hash
    )


def as_response(answer: StoredAnswer, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(answer.body, answer.status_code, headers=headers, media_type=answer.media_type)


async def run_once(intake: Intake, delivery: Delivery, work: Work) -> tuple[StoredAnswer, bool]:
    """The answer to `delivery` and whether it is a replay; the work and its record commit together.

    The delivery row is written last, in the same transaction: a concurrent duplicate waits on its
    unique key until the first commits, then finds it, rolls its own work back and replays.
    """
    try:
        async with intake.sessions.begin() as session:
            answer, lead_ids = await work(session)
            await intake.handlers.record_deliveries(session, [(delivery, answer, lead_ids)])
        return answer, False
    except AlreadyDelivered:
        async with intake.sessions() as session:
            stored = await intake.handlers.stored_answer(
                session, delivery.channel, delivery.delivery_id
            )
        if stored is None:  # deliveries are never deleted, so the conflicting row is there
            raise RuntimeError(
                f"delivery {delivery.delivery_id} conflicted but is absent"
            ) from None
        return stored, True
