"""Managing the router's configuration: reps, teams, routing rules and policy versions.

Used by the HTTP API and at start-up (seeding from files); the caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_router.adapters.config_files import RepSpec, Roster, TeamSpec, parse_policy
from handoff_router.adapters.tables import (
    assignments,
    policies,
    queued_leads,
    reps,
    routing_rules,
    shadow_results,
    teams,
)
from handoff_router.domain.assignment import RoutingRule
from handoff_router.domain.qualification import Policy
from handoff_shared.clock import Clock


class ConfigConflict(ValueError):
    """A change that contradicts what is stored (a reused version, an unknown team)."""


class NotFound(LookupError):
    """No such rep, team, rule or policy version."""


def rep_values(spec: RepSpec) -> dict[str, Any]:
    rep = spec.to_rep()
    return {
        "rep_id": rep.rep_id,
        "name": rep.name,
        "manager": rep.manager,
        "team": rep.team,
        "active": rep.active,
        "weight": rep.weight,
        "capacity": rep.capacity,
        "time_zone": rep.time_zone,
        "working_hours": spec.working_hours.model_dump(mode="json") if spec.working_hours else None,
        "away": rep.away,
        "away_until": rep.away_until,
        "country": rep.country,
        "email": rep.email,
        "slack_url": rep.slack_url,
    }


async def put_team(session: AsyncSession, team: TeamSpec) -> None:
    """Create or update a team."""
    found = await session.scalar(select(teams.c.name).where(teams.c.name == team.name))
    if found is None:
        await session.execute(insert(teams).values(**team.model_dump()))
    else:
        await session.execute(
            update(teams).where(teams.c.name == team.name).values(description=team.description)
        )


async def require_team(session: AsyncSession, name: str) -> None:
    if await session.scalar(select(teams.c.name).where(teams.c.name == name)) is None:
        raise ConfigConflict(f"no team {name!r}; create it first (PUT /teams/{name})")


async def put_rep(session: AsyncSession, spec: RepSpec) -> str:
    """Create or update a rep; returns the rep id."""
    await require_team(session, spec.team)
    values = rep_values(spec)
    rep_id = values.pop("rep_id")
    found = await session.scalar(select(reps.c.rep_id).where(reps.c.rep_id == rep_id))
    if found is None:
        await session.execute(insert(reps).values(rep_id=rep_id, **values))
    else:
        await session.execute(update(reps).where(reps.c.rep_id == rep_id).values(**values))
    return str(rep_id)


async def list_reps(session: AsyncSession) -> list[dict[str, Any]]:
    """Every rep with its open (unaccepted) lead count."""
    open_counts: dict[str, int] = {
        rep_id: int(count)
        for rep_id, count in await session.execute(
            select(assignments.c.rep_id, func.count())
            .where(assignments.c.status == "open")
            .group_by(assignments.c.rep_id)
        )
    }
    rows = (await session.execute(select(reps).order_by(reps.c.team, reps.c.rep_id))).all()
    return [{**row._asdict(), "open_leads": open_counts.get(row.rep_id, 0)} for row in rows]


async def replace_routing_rules(session: AsyncSession, rules: list[RoutingRule]) -> None:
    """Replace the routing rules with `rules`, in that order."""
    names = Counter(rule.name for rule in rules)
    repeated = sorted(name for name, count in names.items() if count > 1)
    if repeated:
        raise ConfigConflict(f"routing rule names must be unique; repeated: {repeated}")
    for rule in rules:
        await require_team(session, rule.team)
    await session.execute(delete(routing_rules))
    if rules:
        await session.execute(
            insert(routing_rules),
            [
                {
                    "name": rule.name,
                    "position": position,
                    "team": rule.team,
                    "conditions": [c.model_dump(exclude_none=True) for c in rule.when],
                }
                for position, rule in enumerate(rules)
            ],
        )


async def seed_roster(session: AsyncSession, roster: Roster) -> None:
    """Load a roster file into an empty configuration; anything already stored wins."""
    for team in roster.teams:
        if await session.scalar(select(teams.c.name).where(teams.c.name == team.name)) is None:
            await put_team(session, team)
    if not await session.scalar(select(func.count()).select_from(routing_rules)):
        await replace_routing_rules(session, roster.routing_rules)
    existing = set((await session.scalars(select(reps.c.rep_id))).all())
    for spec in roster.reps:
        if spec.to_rep().rep_id not in existing:
            await put_rep(session, spec)


async def upload_policy(session: AsyncSession, text: str, clock: Clock) -> Policy:
    """Store a new policy version as a draft; raises PolicyError or ConfigConflict."""
    policy = parse_policy(text, "policy")
    stored = await session.scalar(
        select(policies.c.document).where(policies.c.version == policy.version)
    )
    if stored is not None:
        if Policy.model_validate(stored) == policy:
            return policy
        raise ConfigConflict(
            f"policy version {policy.version!r} already exists with other content; "
            "versions are immutable, give the new one a new version"
        )
    await session.execute(
        insert(policies).values(
            version=policy.version,
            document=policy.model_dump(mode="json", exclude_none=True),
            source_text=text,
            status="draft",
            created_at=clock.now(),
        )
    )
    return policy


async def set_policy_status(session: AsyncSession, version: str, status: str, clock: Clock) -> None:
    """Make `version` the active policy or the shadow candidate (replacing the previous one)."""
    current = await session.scalar(select(policies.c.status).where(policies.c.version == version))
    if current is None:
        raise NotFound(f"no policy version {version!r}")
    if status == "shadow" and current == "active":
        raise ConfigConflict(f"{version!r} is the active policy; it cannot also be the shadow")
    demoted = "retired" if status == "active" else "draft"
    await session.execute(
        update(policies).where(policies.c.status == status).values(status=demoted)
    )
    values: dict[str, Any] = {"status": status}
    if status == "active":
        values["activated_at"] = clock.now()
    await session.execute(update(policies).where(policies.c.version == version).values(**values))


async def stop_shadow(session: AsyncSession) -> None:
    await session.execute(
        update(policies).where(policies.c.status == "shadow").values(status="draft")
    )


async def seed_policy(session: AsyncSession, text: str, clock: Clock) -> Policy:
    """Store the policy file; activate it if its version is new (a deploy's new policy)."""
    policy = parse_policy(text, "policy file")
    known = await session.scalar(
        select(policies.c.version).where(policies.c.version == policy.version)
    )
    await upload_policy(session, text, clock)
    if known is None:
        await set_policy_status(session, policy.version, "active", clock)
    return policy


async def policy_history(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(
            policies.c.version,
            policies.c.status,
            policies.c.created_at,
            policies.c.activated_at,
        ).order_by(policies.c.created_at)
    )
    return [row._asdict() for row in rows]


async def get_policy(session: AsyncSession, version: str) -> dict[str, Any]:
    row = (await session.execute(select(policies).where(policies.c.version == version))).first()
    if row is None:
        raise NotFound(f"no policy version {version!r}")
    return row._asdict()


async def shadow_report(session: AsyncSession, limit: int = 100) -> dict[str, Any]:
    """How the shadow candidate's decisions compare with the active policy's."""
    rows = (
        await session.execute(select(shadow_results).order_by(shadow_results.c.decided_at.desc()))
    ).all()
    by_version: dict[str, Counter[str]] = {}
    disagreements: list[dict[str, Any]] = []
    for row in rows:
        tally = by_version.setdefault(row.shadow_version, Counter())
        tally["scored"] += 1
        tally["active_mql"] += row.active_mql
        tally["shadow_mql"] += row.shadow_mql
        if row.active_mql != row.shadow_mql:
            tally["disagreements"] += 1
            tally["only_active_mql" if row.active_mql else "only_shadow_mql"] += 1
            if len(disagreements) < limit:
                disagreements.append(
                    {
                        "lead_id": str(row.lead_id),
                        "shadow_version": row.shadow_version,
                        "active_version": row.active_version,
                        "active": {"mql": row.active_mql, "grade": row.active_grade},
                        "shadow": {"mql": row.shadow_mql, "grade": row.shadow_grade},
                        "shadow_reasons": row.shadow_qualification.get("reasons", []),
                    }
                )
        elif row.active_grade != row.shadow_grade:
            tally["grade_changes"] += 1
    return {
        "versions": {version: dict(tally) for version, tally in by_version.items()},
        "disagreements": disagreements,
    }


async def list_queue(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(select(queued_leads).order_by(queued_leads.c.queued_at))
    return [{**row._asdict(), "lead_id": str(row.lead_id)} for row in rows]
