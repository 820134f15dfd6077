"""Source secrets sealed at rest, with no infrastructure (the catalog on SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlalchemy import select

from handoff_intake.adapters import tables
from handoff_intake.adapters.secret_box import SEALED, SecretBox, SecretsLocked
from handoff_intake.adapters.source_catalog import SourceCatalog, SourceDefinition
from handoff_intake.bootstrap import migrate
from handoff_intake.settings import IntakeSettings
from handoff_shared import db
from handoff_shared.clock import SystemClock

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "whsec-0123456789abcdef"


def test_a_sealed_secret_opens_to_itself_and_does_not_show_it() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(SECRET)
    assert sealed.startswith(SEALED) and SECRET not in sealed
    assert box.open(sealed) == SECRET
    assert not box.needs_resealing(sealed)


def test_without_a_key_secrets_stay_plain_and_sealed_ones_cannot_be_read() -> None:
    unkeyed = SecretBox([])
    assert unkeyed.seal(SECRET) == SECRET
    assert unkeyed.open(SECRET) == SECRET
    assert not unkeyed.needs_resealing(SECRET)
    with pytest.raises(SecretsLocked, match="not set"):
        unkeyed.open(SecretBox([NEW]).seal(SECRET))


def test_rotation_opens_what_the_old_key_sealed_and_asks_for_resealing() -> None:
    sealed_before = SecretBox([OLD]).seal(SECRET)
    rotated = SecretBox([NEW, OLD])
    assert rotated.open(sealed_before) == SECRET
    assert rotated.needs_resealing(sealed_before)
    assert rotated.needs_resealing(SECRET)  # stored before any key was set
    assert not rotated.needs_resealing(rotated.seal(SECRET))
    with pytest.raises(SecretsLocked, match="no longer configured"):
        SecretBox([NEW]).open(sealed_before)


def test_a_key_that_is_not_a_fernet_key_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="not a Fernet key"):
        IntakeSettings(secrets_keys=["too-short"])
    assert IntakeSettings(secrets_keys=[NEW]).secrets_keys[0].get_secret_value() == NEW


async def test_the_catalog_seals_secrets_and_credential_options_and_reseals_on_rotation(
    tmp_path: Path,
) -> None:
    settings = IntakeSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}")
    await asyncio.to_thread(migrate, settings)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    definition = SourceDefinition(
        id="facebook-ads",
        kind="facebook",
        secrets=[SECRET],
        options={"page_access_token": "EAAB-page-token-0123456789", "graph_version": "v21.0"},
    )

    def catalog(*keys: str) -> SourceCatalog:
        return SourceCatalog(sessions, SystemClock(), 5.0, SecretBox(keys))

    async def stored() -> tuple[list[str], dict[str, str]]:
        async with sessions() as session:
            row = (await session.execute(select(tables.sources))).mappings().one()
        return row["secrets"], row["options"]

    try:
        async with sessions.begin() as session:
            await catalog(OLD).put(session, definition)
        secrets, options = await stored()
        assert secrets[0].startswith(SEALED) and options["page_access_token"].startswith(SEALED)
        assert options["graph_version"] == "v21.0"  # not a credential: left readable

        async with sessions.begin() as session:
            assert await catalog(NEW, OLD).reseal_all(session) == 1
            assert await catalog(NEW, OLD).reseal_all(session) == 0
        async with sessions() as session:
            found = await catalog(NEW).find(session, "facebook-ads")
        assert found is not None
        assert found.secrets == [SECRET]
        assert found.options["page_access_token"] == "EAAB-page-token-0123456789"
    finally:
        await engine.dispose()
