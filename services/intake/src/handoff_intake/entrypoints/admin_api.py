"""Admin API (scope `admin`): sources and their secrets, API keys. Secrets are never echoed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status

from handoff_intake.adapters.api_keys import Principal
from handoff_intake.adapters.source_catalog import (
    SourceDefinition,
    SourceSettings,
    masked_options,
    secret_hint,
)
from handoff_intake.entrypoints.schemas import (
    ApiKeyIn,
    ApiKeyIssued,
    ApiKeyView,
    SecretIn,
    SourceView,
)
from handoff_intake.entrypoints.security import AUTH_RESPONSES, IntakeDep, require
from handoff_intake.entrypoints.webhooks import SourceId
from handoff_intake.sources.registry import known_kinds

Admin = Annotated[Principal, Depends(require("admin"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such source or key"}}

router = APIRouter(prefix="/admin", tags=["admin"], responses=AUTH_RESPONSES)


def _view(definition: SourceDefinition) -> SourceView:
    return SourceView.model_construct(
        **{
            **definition.model_dump(),
            "secrets": [secret_hint(secret) for secret in definition.secrets],
            "options": masked_options(definition.options),
        }
    )


@router.get("/source-kinds")
async def list_source_kinds(_admin: Admin) -> list[str]:
    """Every kind of source an adapter exists for."""
    return known_kinds()


@router.get("/sources")
async def list_sources(intake: IntakeDep, _admin: Admin) -> list[SourceView]:
    """Every configured source, secrets as hints."""
    async with intake.sessions() as session:
        return [_view(definition) for definition in await intake.catalog.listing(session)]


@router.get("/sources/{source_id}", responses=NOT_FOUND)
async def get_source(source_id: SourceId, intake: IntakeDep, _admin: Admin) -> SourceView:
    """One source, secrets as hints."""
    async with intake.sessions() as session:
        definition = await intake.catalog.find(session, source_id)
    if definition is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no source {source_id}")
    return _view(definition)


@router.put("/sources/{source_id}", responses={201: {"description": "Created"}})
async def put_source(
    source_id: SourceId,
    settings: SourceSettings,
    response: Response,
    intake: IntakeDep,
    _admin: Admin,
) -> SourceView:
    """Create or replace a source (its webhook URL is /webhooks/{source_id})."""
    definition = SourceDefinition(id=source_id, **settings.model_dump())
    async with intake.sessions.begin() as session:
        created = await intake.catalog.put(session, definition)
    await intake.catalog.reload()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _view(definition)


@router.post("/sources/{source_id}/secrets", responses=NOT_FOUND)
async def rotate_secret(
    source_id: SourceId, secret: SecretIn, intake: IntakeDep, _admin: Admin
) -> SourceView:
    """Add a secret; it and the newest previous one are both accepted until the next rotation."""
    async with intake.sessions.begin() as session:
        definition = await intake.catalog.add_secret(session, source_id, secret.secret)
    if definition is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no source {source_id}")
    await intake.catalog.reload()
    return _view(definition)


@router.delete("/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_source(source_id: SourceId, intake: IntakeDep, _admin: Admin) -> None:
    """Remove a source; its webhook URL answers 404 from then on."""
    async with intake.sessions.begin() as session:
        if not await intake.catalog.remove(session, source_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no source {source_id}")
    await intake.catalog.reload()


@router.get("/api-keys")
async def list_api_keys(intake: IntakeDep, _admin: Admin) -> list[ApiKeyView]:
    """Every stored API key, by hint (the keys themselves are kept only as hashes)."""
    async with intake.sessions() as session:
        return [ApiKeyView.model_validate(row) for row in await intake.keys.listing(session)]


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(key: ApiKeyIn, intake: IntakeDep, _admin: Admin) -> ApiKeyIssued:
    """Issue a key with the given scopes; the answer is the only time the key is shown."""
    async with intake.sessions.begin() as session:
        issued = await intake.keys.issue(session, key.name, key.scopes)
    await intake.keys.reload()
    return ApiKeyIssued(id=issued.id, name=issued.name, scopes=issued.scopes, key=issued.key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def revoke_api_key(key_id: uuid.UUID, intake: IntakeDep, _admin: Admin) -> None:
    """Revoke a key at once in this replica, within the cache lifetime in the others."""
    async with intake.sessions.begin() as session:
        if not await intake.keys.revoke(session, key_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no active key {key_id}")
    await intake.keys.reload()
