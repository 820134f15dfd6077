"""The router's management API: reps, teams, routing rules, policy versions, shadow, queue."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from handoff_router import admin
from handoff_router.adapters.config_files import PolicyError, RepSpec, TeamSpec, parse_policy
from handoff_router.adapters.config_store import load_config
from handoff_router.adapters.tables import teams
from handoff_router.bootstrap import Router
from handoff_router.domain.assignment import RoutingRule, choose_team
from handoff_router.domain.facts import lead_facts
from handoff_router.domain.qualification import Policy, Signal
from handoff_shared.events import LeadSnapshot, Qualification
from handoff_shared.http import answer_invalid_requests_without_echo
from handoff_shared.metrics import add_metrics_route


class SampleLead(BaseModel):
    """A lead to preview a policy against, with what it did and when."""

    lead: dict[str, Any] = Field(
        description="LeadSnapshot fields; lead_id and received_at optional"
    )
    signals: list[tuple[str, AwareDatetime]] = Field(
        default_factory=list, description="(kind, time) pairs, e.g. ['demo_request', '2026-...']"
    )
    at: AwareDatetime | None = Field(default=None, description="When to score; default now")


class Preview(BaseModel):
    """A policy's decision on a sample lead, and the routing rule that would pick the team."""

    qualification: Qualification
    active: Qualification | None
    team: str | None
    routing_rule: str | None


class PolicyStatus(BaseModel):
    status: Literal["active", "shadow"]


PLAIN_TEXT: dict[str, Any] = {
    "content": {"text/plain": {}, "application/yaml": {}, "application/json": {}}
}


def create_app(router: Router) -> FastAPI:
    """The management API over a running router."""
    app = FastAPI(
        title="Handoff router",
        version="0.2.0",
        summary="Reps, teams, routing rules and versioned qualification policies.",
    )

    def require_api_key(
        x_api_key: Annotated[str | None, Header(description="The caller's API key")] = None,
    ) -> None:
        if x_api_key is None or not any(
            hmac.compare_digest(x_api_key.encode(), key.encode())
            for key in router.settings.api_keys
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or unknown X-API-Key",
                headers={"WWW-Authenticate": "ApiKey"},
            )

    answer_invalid_requests_without_echo(app)
    add_metrics_route(app)

    @app.exception_handler(PolicyError)
    async def _policy_error(_request: Request, error: PolicyError) -> JSONResponse:
        return JSONResponse({"detail": "invalid policy", "errors": error.errors}, status_code=422)

    @app.exception_handler(admin.ConfigConflict)
    async def _conflict(_request: Request, error: admin.ConfigConflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(admin.NotFound)
    async def _not_found(_request: Request, error: admin.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    async def in_transaction(work: Callable[[Any], Awaitable[Any]]) -> Any:
        async with router.sessions.begin() as session:
            result = await work(session)
        router.config.invalidate()
        return result

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    authorised = [Depends(require_api_key)]

    @app.get("/teams", dependencies=authorised)
    async def get_teams() -> list[dict[str, Any]]:
        """Teams with their reps."""
        async with router.sessions() as session:
            reps = await admin.list_reps(session)
            config = await load_config(session)
            rows = (await session.execute(select(teams).order_by(teams.c.name))).all()
        return [
            {
                **row._asdict(),
                "reps": [rep["rep_id"] for rep in reps if rep["team"] == row.name],
                "routing_rules": [r.name for r in config.routing_rules if r.team == row.name],
            }
            for row in rows
        ]

    @app.put("/teams/{name}", dependencies=authorised)
    async def put_team(name: str, description: Annotated[str, Body(embed=True)] = "") -> TeamSpec:
        """Create or update a team."""
        team = TeamSpec(name=name, description=description)
        await in_transaction(lambda session: admin.put_team(session, team))
        return team

    @app.get("/reps", dependencies=authorised)
    async def get_reps() -> list[dict[str, Any]]:
        """Every rep with settings and open (unaccepted) leads."""
        async with router.sessions() as session:
            return await admin.list_reps(session)

    @app.put("/reps/{rep_id}", dependencies=authorised)
    async def put_rep(rep_id: str, rep: RepSpec) -> dict[str, str]:
        """Create or update a rep: team, weight, capacity, time zone, hours, away, manager."""
        if rep.id not in (None, rep_id):
            raise HTTPException(422, detail=f"body id {rep.id!r} differs from path {rep_id!r}")
        spec = rep.model_copy(update={"id": rep_id})
        await in_transaction(lambda session: admin.put_rep(session, spec))
        return {"rep_id": rep_id}

    @app.get("/routing-rules", dependencies=authorised)
    async def get_routing_rules() -> list[RoutingRule]:
        """The routing rules, in the order they are tried."""
        async with router.sessions() as session:
            return (await load_config(session)).routing_rules

    @app.put("/routing-rules", dependencies=authorised)
    async def put_routing_rules(rules: list[RoutingRule]) -> list[RoutingRule]:
        """Replace the routing rules (first match wins; a rule without conditions catches all)."""
        await in_transaction(lambda session: admin.replace_routing_rules(session, rules))
        return rules

    @app.get("/policies/schema", dependencies=authorised)
    async def policy_schema() -> dict[str, Any]:
        """The JSON Schema every policy document must follow."""
        return Policy.model_json_schema()

    @app.get("/policies", dependencies=authorised)
    async def list_policies() -> list[dict[str, Any]]:
        """Every version uploaded, with its status (active, shadow, draft, retired)."""
        async with router.sessions() as session:
            return await admin.policy_history(session)

    @app.post(
        "/policies",
        status_code=status.HTTP_201_CREATED,
        dependencies=authorised,
        openapi_extra={"requestBody": PLAIN_TEXT},
        responses={422: {"description": "Invalid policy, each error with its line"}},
    )
    async def upload_policy(request: Request) -> dict[str, Any]:
        """Upload a new policy version (YAML or JSON body) as a draft."""
        text = (await request.body()).decode("utf-8", errors="replace")
        policy = await in_transaction(
            lambda session: admin.upload_policy(session, text, router.clock)
        )
        return {"version": policy.version, "status": "draft"}

    @app.get("/policies/{version}", dependencies=authorised)
    async def get_policy(version: str) -> dict[str, Any]:
        """One policy version as uploaded."""
        async with router.sessions() as session:
            return await admin.get_policy(session, version)

    @app.post("/policies/{version}/status", dependencies=authorised)
    async def set_status(version: str, body: PolicyStatus) -> dict[str, str]:
        """Activate a version, or score every lead with it in shadow mode."""
        await in_transaction(
            lambda session: admin.set_policy_status(session, version, body.status, router.clock)
        )
        return {"version": version, "status": body.status}

    @app.delete("/policies/shadow", dependencies=authorised)
    async def stop_shadow() -> dict[str, str]:
        """Stop shadow scoring."""
        await in_transaction(admin.stop_shadow)
        return {"shadow": "stopped"}

    @app.get("/shadow/report", dependencies=authorised)
    async def shadow_report() -> dict[str, Any]:
        """Where the shadow candidate and the active policy disagree."""
        async with router.sessions() as session:
            return await admin.shadow_report(session)

    @app.post(
        "/policies/preview",
        dependencies=authorised,
        responses={422: {"description": "Invalid policy or sample lead"}},
    )
    async def preview(
        sample: SampleLead, version: str | None = None, policy_text: str | None = Body(None)
    ) -> Preview:
        """Score a sample lead with a stored version (default: active) or a policy in the body."""
        async with router.sessions() as session:
            config = await load_config(session)
            if policy_text is not None:
                candidate = parse_policy(policy_text)
            elif version is not None:
                candidate = Policy.model_validate(
                    (await admin.get_policy(session, version))["document"]
                )
            else:
                candidate = config.policy
        now = sample.at or router.clock.now()
        try:
            lead = LeadSnapshot.model_validate(
                {"lead_id": uuid.uuid4(), "received_at": now, **sample.lead}
            )
        except ValueError as error:
            raise HTTPException(422, detail=f"sample lead: {error}") from None
        seen = [Signal(kind, at) for kind, at in sample.signals]
        lists = router.handlers.email_lists
        rule = choose_team(config.routing_rules, lead_facts(lead, lists))
        return Preview(
            qualification=candidate.qualify(lead, signals=seen, now=now, email_lists=lists),
            active=config.policy.qualify(lead, signals=seen, now=now, email_lists=lists),
            team=rule.team if rule else None,
            routing_rule=rule.name if rule else None,
        )

    @app.get("/queue", dependencies=authorised)
    async def queue() -> list[dict[str, Any]]:
        """Sales-ready leads nobody could take yet (overflow), oldest first."""
        async with router.sessions() as session:
            return await admin.list_queue(session)

    @app.post("/queue/retry", dependencies=authorised)
    async def retry_queue() -> dict[str, int]:
        """Offer the parked leads to reps now."""
        async with router.sessions.begin() as session:
            return {"assigned": await router.handlers.retry_queued(session)}

    return app
