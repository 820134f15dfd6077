"""API key authentication and scope checks for the REST and admin endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from handoff_intake.adapters.api_keys import Principal, Scope
from handoff_intake.bootstrap import Intake

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


async def runtime(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(runtime)]


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting keys that hold `scope`: 401 without a known key, 403 without it."""

    async def check(
        intake: IntakeDep, presented: Annotated[str | None, Security(api_key_header)]
    ) -> Principal:
        principal = await intake.keys.authenticate(presented) if presented else None
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or unknown X-API-Key",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if scope not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this key lacks scope {scope}")
        return principal

    return check


AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key lacks the scope"},
}
