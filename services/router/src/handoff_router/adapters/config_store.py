"""The router's live configuration (policies, routing rules) read from its database.

Cached for a short time so every event does not reread it, and so a change made through the API
(on any instance) takes effect within `refresh_seconds`, without a restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_router.adapters.tables import policies, routing_rules
from handoff_router.domain.assignment import RoutingRule
from handoff_router.domain.qualification import Policy


@dataclass(frozen=True)
class RouterConfig:
    """The active policy, the shadow candidate if any, and the routing rules in order."""

    policy: Policy
    shadow: Policy | None
    routing_rules: list[RoutingRule]


class NoActivePolicy(RuntimeError):
    """The database holds no active policy (the router seeds one at start-up)."""


class ConfigStore:
    """Reads the configuration, at most once per `refresh_seconds`."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, refresh_seconds: float = 1.0
    ) -> None:
        self._sessions = sessions
        self._refresh_seconds = refresh_seconds
        self._cached: RouterConfig | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._cached = None

    async def current(self) -> RouterConfig:
        if self._cached is None or time.monotonic() - self._loaded_at >= self._refresh_seconds:
            async with self._sessions() as session:
                self._cached = await load_config(session)
            self._loaded_at = time.monotonic()
        return self._cached


async def load_config(session: AsyncSession) -> RouterConfig:
    """The configuration as stored now."""
    rows = (
        await session.execute(
            select(policies.c.status, policies.c.document).where(
                policies.c.status.in_(("active", "shadow"))
            )
        )
    ).all()
    by_status = {row.status: Policy.model_validate(row.document) for row in rows}
    if "active" not in by_status:
        raise NoActivePolicy("no active qualification policy")
    rules = (await session.execute(select(routing_rules).order_by(routing_rules.c.position))).all()
    return RouterConfig(
        policy=by_status["active"],
        shadow=by_status.get("shadow"),
        routing_rules=[
            RoutingRule(name=row.name, team=row.team, when=row.conditions) for row in rules
        ],
    )
