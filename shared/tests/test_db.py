"""JSON columns take what JSON can hold, written fast (orjson) or, past its limits, by json."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

from handoff_shared.db import create_engine, session_factory

metadata = MetaData()
DOCUMENTS = Table(
    "documents", metadata, Column("id", Integer, primary_key=True), Column("body", JSON)
)


async def test_json_columns_keep_big_integers_and_non_string_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "unused")
    bodies = [{"huge": 2**70, "nested": [1.5, None, "é"]}, {1: "one", "when": "2026-11-23"}]
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        async with session_factory(engine).begin() as session:
            await session.execute(insert(DOCUMENTS), [{"body": body} for body in bodies])
        async with session_factory(engine)() as session:
            stored = (
                await session.scalars(select(DOCUMENTS.c.body).order_by(DOCUMENTS.c.id))
            ).all()
    finally:
        await engine.dispose()
    assert stored == [bodies[0], {"1": "one", "when": "2026-11-23"}]
