"""Database plumbing on SQLite, as `make run` uses it: JSON columns (orjson, or json past its
limits) and the inbox."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

from handoff_shared.clock import SystemClock
from handoff_shared.db import EncodedJson, create_engine, mark_written, on_commit, session_factory
from handoff_shared.inbox import Inbox, inbox_table

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


async def test_the_inbox_claims_each_id_once_on_sqlite_too(tmp_path: Path) -> None:
    tables = MetaData()
    inbox = Inbox(inbox_table(tables), SystemClock())
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "unused")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(tables.create_all)
        sessions = session_factory(engine)
        async with sessions.begin() as session:
            assert await inbox.claim_many(session, [("a", "t"), ("b", "t")]) == {"a", "b"}
        async with sessions.begin() as session:
            assert await inbox.claim_many(session, [("b", "t"), ("c", "t"), ("c", "t")]) == {"c"}
    finally:
        await engine.dispose()


async def test_json_encoded_beforehand_is_stored_as_the_json_it_holds(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "unused")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        async with session_factory(engine).begin() as session:
            await session.execute(insert(DOCUMENTS).values(body=EncodedJson('{"a": [1, 2]}')))
        async with session_factory(engine)() as session:
            assert await session.scalar(select(DOCUMENTS.c.body)) == {"a": [1, 2]}
    finally:
        await engine.dispose()


async def test_every_listener_of_a_flag_hears_each_commit_that_wrote_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "unused")
    sessions = session_factory(engine)
    heard: list[str] = []
    on_commit(sessions, "wrote-documents", lambda: heard.append("relay"))
    on_commit(sessions, "wrote-documents", lambda: heard.append("metrics"))
    on_commit(sessions, "wrote-other", lambda: heard.append("other"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        async with sessions.begin() as session:
            await session.execute(insert(DOCUMENTS).values(body={}))
            mark_written(session, "wrote-documents")
        async with sessions.begin() as session:  # writes nothing flagged
            await session.execute(insert(DOCUMENTS).values(body={}))
    finally:
        await engine.dispose()
    assert heard == ["relay", "metrics"]
