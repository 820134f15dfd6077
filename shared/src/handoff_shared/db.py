"""Database plumbing: engines bound to one service's schema, aware timestamps, dialect helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import DateTime, Dialect, Table, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file, so a fresh clone needs no setup."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class EncodedJson(str):
    """JSON text already encoded (say by pydantic's `model_dump_json`), for a JSON column."""


def _json_text(value: Any) -> str:
    # JSON columns hold whole leads and qualification packets; orjson writes them several
    # times faster than the standard library (the router spent 5 % of its CPU there).
    if isinstance(value, EncodedJson):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)  # what orjson refuses, such as integers beyond 64 bits


def create_engine(url: str, schema: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine whose connections see `schema` first (Postgres) or one file (SQLite).

    Each service owns a schema; tables are declared without one and found via search_path, so the
    same models and migrations serve a shared Postgres database and a per-service SQLite file.
    """
    if is_postgres(url):
        connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}}
        parsed = make_url(url)
        if parsed.host in LOOPBACK_HOSTS and "ssl" not in parsed.query:
            # TLS over loopback protects nothing, and the driver would negotiate it (Debian's
            # server offers it): it cost the router about 4 % of its CPU.
            connect_args["ssl"] = False
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args=connect_args,
            json_serializer=_json_text,
        )
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=_json_text)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the relay read while a request writes; the busy timeout waits out brief locks.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions of one service; each factory has its own Session class so hooks stay local."""
    service_session = type("ServiceSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=service_session)


def mark_written(session: AsyncSession, flag: str) -> None:
    """Note that this transaction wrote something `on_commit(..., flag, ...)` listeners wait for."""
    session.info[flag] = True


def on_commit(
    sessions: async_sessionmaker[AsyncSession], flag: str, callback: Callable[[], None]
) -> None:
    """Call `callback` after each commit of a session from this factory that was marked `flag`.

    One listener per factory reads and clears the flags, so every callback of a flag is called.
    """
    session_class = sessions.kw["sync_session_class"]
    callbacks: dict[str, list[Callable[[], None]]] | None = getattr(
        session_class, _COMMIT_CALLBACKS, None
    )
    if callbacks is None:
        callbacks = {}
        setattr(session_class, _COMMIT_CALLBACKS, callbacks)
        registered = callbacks

        def after_commit(session: Session) -> None:
            for written, waiting in registered.items():
                if session.info.pop(written, False):
                    for call in waiting:
                        call()

        event.listen(session_class, "after_commit", after_commit)
    callbacks.setdefault(flag, []).append(callback)


_COMMIT_CALLBACKS = "_handoff_commit_callbacks"


def insert_ignoring_conflicts(session: AsyncSession | Session, table: Table) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


_STAGED = "handoff.staged_inserts"


@dataclass
class _StagedInserts:
    transaction: SessionTransaction | None
    rows: dict[tuple[Table, bool], list[dict[str, Any]]] = field(default_factory=dict)


def _staged(session: Session) -> _StagedInserts:
    transaction = session.get_transaction()
    staged: _StagedInserts | None = session.info.get(_STAGED)
    if staged is None or staged.transaction is not transaction:
        # None yet, or left over from a transaction that rolled back.
        staged = _StagedInserts(transaction)
        session.info[_STAGED] = staged
        if not event.contains(session, "before_commit", _insert_staged):
            event.listen(session, "before_commit", _insert_staged)
    return staged


def insert_at_commit(
    session: AsyncSession, table: Table, row: dict[str, Any], *, ignore_conflicts: bool = False
) -> None:
    """Queue `row` for `table`; queued rows go in one statement per table just before the
    commit (or at `flush_inserts`), so a transaction that handles many events pays one round
    trip per table instead of one per row."""
    _staged(session.sync_session).rows.setdefault((table, ignore_conflicts), []).append(row)


# From this many rows, PostgreSQL gets them by COPY: several times less work on both sides than
# an INSERT per row (the router's commit took a third of its batch time with INSERTs).
COPY_FROM_ROWS = 50


async def flush_inserts(session: AsyncSession) -> None:
    """Insert every queued row now: before something reads those tables back, or to commit."""
    staged = _staged(session.sync_session)
    batches, staged.rows = staged.rows, {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for (table, ignore_conflicts), rows in batches.items():
        copyable = postgres and not ignore_conflicts and len(rows) >= COPY_FROM_ROWS
        if copyable and all(row.keys() == rows[0].keys() for row in rows):  # one column list
            await _copy(session, table, rows)
            continue
        statement = insert_ignoring_conflicts(session, table) if ignore_conflicts else insert(table)
        await session.execute(statement, rows)


async def _copy(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY `rows` (all with the same columns) into `table`, typed as the columns declare."""
    dialect = session.get_bind().dialect
    columns = list(rows[0])
    converted = [
        (index, process)
        for index, name in enumerate(columns)
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    values_of = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    records = []
    for row in rows:
        record = list(values_of(row))
        for index, process in converted:
            record[index] = process(record[index])
        records.append(record)
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection
    # Unqualified, so the connection's search_path picks the service's schema.
    await driver.copy_records_to_table(table.name, columns=columns, records=records)


def _insert_staged(session: Session) -> None:
    staged = _staged(session)
    batches, staged.rows = staged.rows, {}
    for (table, ignore_conflicts), rows in batches.items():
        statement = insert_ignoring_conflicts(session, table) if ignore_conflicts else insert(table)
        session.execute(statement, rows)
