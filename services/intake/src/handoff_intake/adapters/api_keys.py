"""API keys with scopes, stored as SHA-256 hashes and cached briefly in memory."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_intake.adapters.tables import api_keys
from handoff_shared.clock import Clock

Scope: TypeAlias = Literal["leads:read", "leads:write", "activities:write", "admin"]
ALL_SCOPES: frozenset[str] = frozenset(get_args(Scope))
# A miss reloads the key list at most this often, so random keys cannot hammer the database.
MISS_RELOAD_SECONDS = 1.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (for idempotency records), name and scopes."""

    key_id: str
    name: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class IssuedKey:
    """A key as created; the plain key is shown once and never stored."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    key: str
    hint: str


def hash_key(key: str) -> str:
    # A plain hash suffices: issued keys carry 256 bits of entropy, so there is nothing to guess.
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Authenticates X-API-Key values: bootstrap keys from settings plus keys in the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bootstrap_keys: Iterable[str],
        clock: Clock,
        ttl_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl_seconds
        self._bootstrap = {
            hash_key(key): Principal(f"settings-{index}", "bootstrap", ALL_SCOPES)
            for index, key in enumerate(bootstrap_keys)
        }
        self._stored: dict[str, Principal] = {}
        self._loaded_at = float("-inf")

    async def authenticate(self, presented: str) -> Principal | None:
        digest = hash_key(presented)
        if (principal := self._bootstrap.get(digest)) is not None:
            return principal
        age = time.monotonic() - self._loaded_at
        if age > self._ttl or (digest not in self._stored and age > MISS_RELOAD_SECONDS):
            await self.reload()
        return self._stored.get(digest)

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    api_keys.c.id, api_keys.c.name, api_keys.c.key_hash, api_keys.c.scopes
                ).where(api_keys.c.revoked_at.is_(None))
            )
            self._stored = {
                row.key_hash: Principal(str(row.id), row.name, frozenset(row.scopes))
                for row in rows
            }
        self._loaded_at = time.monotonic()

    async def issue(self, session: AsyncSession, name: str, scopes: Iterable[str]) -> IssuedKey:
        key = f"hk_{secrets.token_urlsafe(32)}"
        issued = IssuedKey(uuid.uuid4(), name, sorted(set(scopes)), key, key[-4:])
        await session.execute(
            insert(api_keys).values(
                id=issued.id,
                name=name,
                key_hash=hash_key(key),
                hint=issued.hint,
                scopes=issued.scopes,
                created_at=self._clock.now(),
            )
        )
        return issued

    async def revoke(self, session: AsyncSession, key_id: uuid.UUID) -> bool:
        revoked = await session.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
            .returning(api_keys.c.id)
        )
        return revoked.first() is not None

    async def listing(self, session: AsyncSession) -> list[dict[str, Any]]:
        rows = await session.execute(
            select(
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.hint,
                api_keys.c.scopes,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            ).order_by(api_keys.c.created_at)
        )
        return [row._asdict() for row in rows]
