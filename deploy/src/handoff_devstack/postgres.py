"""A PostgreSQL server on 127.0.0.1:5432 for development and tests, from Debian's packages.

Set ``HANDOFF_PG_URL`` (``postgresql://USER:PASSWORD@HOST:PORT`` of a role that may
create databases) to use some other server instead; nothing is then installed or started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import asyncpg

from handoff_devstack.errors import DevstackError

__all__ = ["DevstackError", "create_database", "drop_database", "ensure_server"]

log = logging.getLogger(__name__)

ENV_URL = "HANDOFF_PG_URL"
ROLE = "handoff"
PASSWORD = "handoff"
PORT = 5432
DEFAULT_URL = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{PORT}"
MAINTENANCE_DB = "postgres"
START_TIMEOUT = 30.0
OUTPUT_TAIL_LINES = 30

# Idempotent: also resets the password and attributes of an existing role.
ENSURE_ROLE_SQL = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    CREATE ROLE {ROLE};
  END IF;
  ALTER ROLE {ROLE} WITH LOGIN CREATEDB PASSWORD '{PASSWORD}';
END
$$;
"""

T = TypeVar("T")


def _base_url() -> str:
    """The server URL without a database: ``HANDOFF_PG_URL`` if set, else the local one."""
    configured = os.environ.get(ENV_URL)
    if not configured:
        return DEFAULT_URL
    parts = urlsplit(configured)
    return f"{parts.scheme}://{parts.netloc}"


def _database_url(base: str, database: str) -> str:
    return f"{base}/{quote(database, safe='')}"


def _run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion, even when called from inside an event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _can_login(url: str) -> bool:
    try:
        connection = await asyncpg.connect(_database_url(url, MAINTENANCE_DB), timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        output = "\n".join((proc.stdout + proc.stderr).splitlines()[-OUTPUT_TAIL_LINES:])
        raise DevstackError(
            f"{what} failed: `{' '.join(argv)}` exited {proc.returncode}:\n{output}"
        )
    return proc.stdout


def _require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise DevstackError(
            f"nothing answers as {ROLE} on 127.0.0.1:{PORT} and {action} needs root. "
            f"Run `python -m handoff_devstack.postgres ensure` as root once, "
            f"or set {ENV_URL}=postgresql://USER:PASSWORD@HOST:PORT for another server."
        )


def _installed_versions() -> list[str]:
    """Major versions of Debian's PostgreSQL server packages on this machine, oldest first."""
    found = Path("/usr/lib/postgresql").glob("*/bin/postgres")
    return sorted((path.parents[1].name for path in found), key=int)


def _install_server() -> None:
    _require_root("installing PostgreSQL")
    log.info("installing PostgreSQL with apt-get; this takes a minute or two")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], "apt-get update", env)
    _run(
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
        "installing PostgreSQL",
        env,
    )


def _cluster_on_port() -> tuple[str, str, bool] | None:
    """(version, name, running) of the Debian cluster configured for our port, if any."""
    # Columns: Ver Cluster Port Status Owner Data-directory Log-file.
    for line in _run(["pg_lsclusters", "--no-header"], "listing clusters").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(PORT):
            return fields[0], fields[1], fields[3] == "online"
    return None


def _start_local_server() -> None:
    """Install, create and start a Debian PostgreSQL cluster on our port, as needed."""
    if not _installed_versions() or shutil.which("pg_ctlcluster") is None:
        _install_server()
    cluster = _cluster_on_port()
    if cluster is None:
        _require_root("creating a PostgreSQL cluster")
        version = _installed_versions()[-1]
        log.info("creating PostgreSQL cluster %s/main on port %d", version, PORT)
        _run(["pg_createcluster", "--port", str(PORT), version, "main"], "creating a cluster")
        cluster = (version, "main", False)
    version, name, running = cluster
    if not running:
        _require_root("starting PostgreSQL")
        log.info("starting PostgreSQL cluster %s/%s", version, name)
        _run(["pg_ctlcluster", version, name, "start"], "starting PostgreSQL")


def _ensure_role() -> None:
    """Create or update the role as the ``postgres`` superuser, over the local socket."""
    _require_root(f"creating the {ROLE} role")
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(PORT), "-d", MAINTENANCE_DB]
    command = ["runuser", "-u", "postgres", "--", *psql, "-c", ENSURE_ROLE_SQL]
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            _run(command, f"creating the {ROLE} role")
            return
        except DevstackError:
            # A server that was just started may still refuse connections.
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def ensure_server() -> str:
    """Make a server available and return its admin base URL (no database in it).

    Locally that is ``postgresql://handoff:handoff@127.0.0.1:5432``: the server is
    installed with apt-get, created and started as needed (as root), and the
    ``handoff`` role (LOGIN, CREATEDB) is created if missing. With ``HANDOFF_PG_URL``
    set, that server is returned untouched.
    """
    if os.environ.get(ENV_URL):
        return _base_url()
    if _run_blocking(_can_login(DEFAULT_URL)):
        return DEFAULT_URL
    _start_local_server()
    _ensure_role()
    if not _run_blocking(_can_login(DEFAULT_URL)):
        raise DevstackError(
            f"the {ROLE} role exists but cannot log in over TCP at 127.0.0.1:{PORT}; "
            "pg_hba.conf needs a line like `host all all 127.0.0.1/32 scram-sha-256`"
        )
    return DEFAULT_URL


def _quote_identifier(name: str) -> str:
    if not name or len(name.encode()) > 63 or "\x00" in name:
        raise DevstackError(f"invalid database name {name!r}")
    return '"' + name.replace('"', '""') + '"'


async def _admin_connection() -> asyncpg.Connection:
    base = urlsplit(_base_url())
    try:
        return await asyncpg.connect(_database_url(_base_url(), MAINTENANCE_DB), timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        hint = f"check {ENV_URL}" if os.environ.get(ENV_URL) else "call ensure_server() first"
        raise DevstackError(
            f"cannot connect to {base.hostname}:{base.port} as {base.username} ({error}); {hint}"
        ) from error


async def create_database(name: str) -> str:
    """Create database ``name`` if missing; return its SQLAlchemy (asyncpg) URL."""
    quoted = _quote_identifier(name)
    connection = await _admin_connection()
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it between the check and here: fine.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f"CREATE DATABASE {quoted}")
    finally:
        await connection.close()
    base = urlsplit(_base_url())
    return f"postgresql+asyncpg://{base.netloc}/{quote(name, safe='')}"


async def drop_database(name: str, *, attempts: int = 10) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions (WITH FORCE).

    An autovacuum worker in the database cannot be terminated by a role that is not a
    superuser; it finishes within moments, so the drop is tried again.
    """
    quoted = _quote_identifier(name)
    connection = await _admin_connection()
    try:
        for attempt in range(1, attempts + 1):
            try:
                await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
                return
            except asyncpg.InsufficientPrivilegeError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(1)
    finally:
        await connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m handoff_devstack.postgres``."""
    parser = argparse.ArgumentParser(
        prog="python -m handoff_devstack.postgres",
        description="Provide PostgreSQL for development.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ensure = commands.add_parser(
        "ensure", help="make the server and a database available; print its SQLAlchemy URL"
    )
    ensure.add_argument(
        "--database", default=ROLE, help=f"database to create if missing (default {ROLE})"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        ensure_server()
        print(asyncio.run(create_database(args.database)))
    except DevstackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
