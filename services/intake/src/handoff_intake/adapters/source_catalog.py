"""Configured sources: stored in intake's database, loadable from YAML, cached in memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import limits
import phonenumbers
import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import RowMapping, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_intake.adapters.secret_box import SecretBox
from handoff_intake.adapters.tables import sources
from handoff_intake.domain.leads import SourceDefaults
from handoff_intake.domain.normalise import StorableInput
from handoff_intake.sources.base import SourceConfig
from handoff_intake.sources.registry import known_kinds
from handoff_shared.clock import Clock
from handoff_shared.db import insert_ignoring_conflicts

SOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
MAX_ACTIVE_SECRETS = 2
MISS_RELOAD_SECONDS = 1.0
SECRET_LIKE_OPTIONS = ("secret", "token", "password", "key")

Secret = Annotated[str, Field(min_length=1, max_length=1000)]


class SourceSettings(StorableInput):
    """A source's configuration, as the admin API and the sources file give it."""

    model_config = ConfigDict(extra="forbid")

    kind: Annotated[str, Field(description="Which adapter parses it; see /admin/source-kinds")]
    secrets: list[Secret] = Field(
        default_factory=list,
        max_length=MAX_ACTIVE_SECRETS,
        description="Signing secrets or shared tokens; two are active during a rotation",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Adapter options, such as a generic source's field_map"
    )
    default_region: Annotated[str, Field(min_length=2, max_length=2)] | None = Field(
        default=None, description="ISO 3166 region for phone numbers written without +country"
    )
    default_campaign: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    default_lead_source: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    rate_limit: Annotated[str, Field(max_length=64, examples=["100/second"])] | None = None
    enabled: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in known_kinds():
            raise ValueError(f"unknown kind; one of {', '.join(known_kinds())}")
        return kind

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        if region is None:
            return None
        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("not a region phone numbers are known for (ISO 3166 alpha-2)")
        return region.upper()

    @field_validator("rate_limit")
    @classmethod
    def _parsable_rate(cls, rate: str | None) -> str | None:
        if rate is not None:
            try:
                limits.parse(rate)
            except ValueError:
                raise ValueError("not a rate such as '100/second' or '5000/minute'") from None
        return rate


class SourceDefinition(SourceSettings):
    """A source with its id, as the sources file lists them."""

    id: Annotated[str, Field(pattern=SOURCE_ID_PATTERN)]


@dataclass(frozen=True)
class Source:
    """A configured source as the webhook endpoint uses it."""

    config: SourceConfig
    defaults: SourceDefaults
    rate_limit: str | None
    enabled: bool


def secret_hint(secret: str) -> str:
    """Enough of a secret to tell two apart, never enough to use: the last 4 of a long one."""
    return f"…{secret[-4:]}" if len(secret) >= 16 else "…"


def is_secret_option(name: str, value: Any) -> bool:
    """Whether an option holds a credential (a token, a password): hidden and sealed."""
    return bool(value) and any(marker in name.lower() for marker in SECRET_LIKE_OPTIONS)


def masked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options with secret-looking values (tokens, passwords) replaced by hints."""
    return {
        name: secret_hint(str(value)) if is_secret_option(name, value) else value
        for name, value in options.items()
    }


class SourceCatalog:
    """Reads and writes sources; the webhook path reads a copy refreshed every few seconds."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ttl_seconds: float,
        box: SecretBox,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._box = box
        self._ttl = ttl_seconds
        self._cached: dict[str, Source] = {}
        self._loaded_at = float("-inf")
        self._reloading: asyncio.Future[None] | None = None

    async def get(self, source_id: str) -> Source | None:
        age = time.monotonic() - self._loaded_at
        if age > self._ttl or (source_id not in self._cached and age > MISS_RELOAD_SECONDS):
            await self._shared_reload()
        return self._cached.get(source_id)

    async def _shared_reload(self) -> None:
        # Every request arriving while the copy is stale waits for one reload, not one each:
        # at hundreds of requests a second a reload per request swamps the process.
        if self._reloading is None:
            self._reloading = asyncio.ensure_future(self.reload())
            self._reloading.add_done_callback(self._reloaded)
        await asyncio.shield(self._reloading)

    def _reloaded(self, _reload: asyncio.Future[None]) -> None:
        self._reloading = None

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = (await session.execute(select(sources))).mappings().all()
        self._cached = {row["id"]: self._source(row) for row in rows}
        self._loaded_at = time.monotonic()

    async def put(self, session: AsyncSession, definition: SourceDefinition) -> bool:
        """Create or replace a source; True when it was created."""
        now = self._clock.now()
        values = {**definition.model_dump(exclude={"id"}), "updated_at": now}
        values["secrets"] = [self._box.seal(secret) for secret in values["secrets"]]
        values["options"] = self._sealed_options(values["options"])
        created = await session.execute(
            insert_ignoring_conflicts(session, sources)
            .values(id=definition.id, created_at=now, **values)
            .returning(sources.c.id)
        )
        if created.first() is not None:
            return True
        await session.execute(update(sources).where(sources.c.id == definition.id).values(values))
        return False

    async def add_secret(
        self, session: AsyncSession, source_id: str, secret: str
    ) -> SourceDefinition | None:
        """Make `secret` the newest; the one before stays active until the next rotation."""
        current = await session.scalar(
            select(sources.c.secrets).where(sources.c.id == source_id).with_for_update()
        )
        if current is None:
            return None
        older = [old for old in current if self._box.open(old) != secret]
        kept = [self._box.seal(secret), *older][:MAX_ACTIVE_SECRETS]
        await session.execute(
            update(sources)
            .where(sources.c.id == source_id)
            .values(secrets=kept, updated_at=self._clock.now())
        )
        return await self.find(session, source_id)

    async def remove(self, session: AsyncSession, source_id: str) -> bool:
        removed = await session.execute(
            delete(sources).where(sources.c.id == source_id).returning(sources.c.id)
        )
        return removed.first() is not None

    async def find(self, session: AsyncSession, source_id: str) -> SourceDefinition | None:
        row = (
            (await session.execute(select(sources).where(sources.c.id == source_id)))
            .mappings()
            .first()
        )
        return None if row is None else self._definition(row)

    async def listing(self, session: AsyncSession) -> list[SourceDefinition]:
        rows = (await session.execute(select(sources).order_by(sources.c.id))).mappings().all()
        return [self._definition(row) for row in rows]

    async def reseal_all(self, session: AsyncSession) -> int:
        """Seal with the newest key every secret stored in plain text or with an older key;
        returns how many sources changed. Run at start-up, so adding a key seals everything."""
        rows = (await session.execute(select(sources).with_for_update())).mappings().all()
        changed = 0
        for row in rows:
            stored = [*row["secrets"], *_secret_options(row["options"]).values()]
            if not any(self._box.needs_resealing(value) for value in stored):
                continue
            await session.execute(
                update(sources)
                .where(sources.c.id == row["id"])
                .values(
                    secrets=[self._box.seal(self._box.open(old)) for old in row["secrets"]],
                    options=self._sealed_options(self._opened_options(row["options"])),
                )
            )
            changed += 1
        return changed

    def _sealed_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        sealed = {name: self._box.seal(value) for name, value in _secret_options(options).items()}
        return {**options, **sealed}

    def _opened_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        opened = {name: self._box.open(value) for name, value in _secret_options(options).items()}
        return {**options, **opened}

    def _definition(self, row: RowMapping) -> SourceDefinition:
        values = {name: row[name] for name in SourceDefinition.model_fields}
        values["secrets"] = [self._box.open(secret) for secret in row["secrets"]]
        values["options"] = self._opened_options(row["options"])
        return SourceDefinition.model_construct(**values)

    def _source(self, row: RowMapping) -> Source:
        return Source(
            config=SourceConfig(
                source_id=row["id"],
                kind=row["kind"],
                secrets=tuple(self._box.open(secret) for secret in row["secrets"]),
                options=self._opened_options(row["options"]),
            ),
            defaults=SourceDefaults(
                region=row["default_region"],
                campaign=row["default_campaign"],
                lead_source=row["default_lead_source"],
            ),
            rate_limit=row["rate_limit"],
            enabled=row["enabled"],
        )


def load_sources_file(path: Path) -> list[SourceDefinition]:
    """The sources a YAML file lists (`sources: [{id, kind, secrets, ...}]`); ValueError if bad."""
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("sources", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with a 'sources' list")
    try:
        return [SourceDefinition.model_validate(entry) for entry in entries]
    except ValidationError as error:
        # Only locations and messages: the input itself may hold secrets.
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()
        )
        raise ValueError(f"{path}: {problems}") from None


def _secret_options(options: Mapping[str, Any]) -> dict[str, str]:
    """The options that hold credentials as text: the ones sealed at rest."""
    return {
        name: value
        for name, value in options.items()
        if isinstance(value, str) and is_secret_option(name, value)
    }
