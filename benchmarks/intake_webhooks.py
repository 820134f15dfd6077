"""Benchmark: signed-webhook intake on the real stack (uvicorn intake + PostgreSQL + Kafka).

Prints sustained throughput (every 202 a lead durably committed with its outbox event), the ack
latency p50/p99 at half that rate, and a bare FastAPI endpoint's throughput in the same run.
The load generator is wrk (Debian: apt-get install wrk) with a Lua script replaying pre-signed
bodies, each a distinct new lead. It shares the machine with everything else.

    uv run python benchmarks/intake_webhooks.py [--workers 2] [--seconds 15] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_devstack.postgres import create_database, drop_database, ensure_server
from handoff_shared.topics import topic_layout

SECRET = "bench-secret-0123456789abcdef"
SOURCE_ID = "bench"
ADMIN_KEY = "bench-admin-key"

WRK_SCRIPT = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  entries = {}
  local nthreads = tonumber(os.getenv("WRK_THREADS"))
  local index = 0
  for line in io.lines(os.getenv("WRK_BODIES")) do
    if index % nthreads == id then
      local tab = string.find(line, "\t", 1, true)
      table.insert(entries, {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)})
    end
    index = index + 1
  end
  position = 0
  pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
end
function request()
  position = position + 1
  local entry = entries[(position - 1) % #entries + 1]
  return wrk.format("POST", os.getenv("WRK_PATH"),
    {["Content-Type"] = "application/json", ["X-Signature"] = "sha256=" .. entry[1]}, entry[2])
end
function delay()
  return pause
end
function done(summary, latency, requests)
  io.write(string.format("STATUS non2xx=%d errors=%d\n", summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("LAT p50=%.3f p99=%.3f\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
"""

BARE_APP = """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/webhooks/{source_id}", status_code=202)
async def bare(source_id: str, request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ok": True}, status_code=202)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_bodies(path: Path, count: int) -> None:
    with path.open("w") as out:
        for _ in range(count):
            token = uuid.uuid4().hex
            body = json.dumps(
                {
                    "delivery": token,
                    "contact": {
                        "email": f"bench-{token}@acme-{token[:4]}.example",
                        "first": "Ada",
                        "last": "Bench",
                        "company": "Acme",
                        "phone": "030 1234567",
                        "country": "Germany",
                    },
                    "utm_campaign": "bench",
                },
                separators=(",", ":"),
            )
            digest = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            out.write(f"{digest}\t{body}\n")


def wait_answering(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def run_wrk(
    url: str,
    path: str,
    bodies: Path,
    script: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
    delay_ms: float = 0.0,
) -> dict[str, float]:
    env = {
        **os.environ,
        "WRK_BODIES": str(bodies),
        "WRK_THREADS": str(threads),
        "WRK_PATH": path,
        "WRK_DELAY_MS": str(delay_ms),
    }
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {
        name: float(match.group(1))
        for name, pattern in {
            "rate": r"Requests/sec:\s+([\d.]+)",
            "requests": r"(\d+) requests in",
            "non2xx": r"STATUS non2xx=(\d+)",
            "errors": r"STATUS non2xx=\d+ errors=(\d+)",
            "p50_ms": r"LAT p50=([\d.]+)",
            "p99_ms": r"LAT p50=[\d.]+ p99=([\d.]+)",
        }.items()
        if (match := re.search(pattern, output))
    }
    if len(figures) != 6:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return figures


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def stored_leads(database_url: str) -> int:
    plain_url = database_url.replace("postgresql+asyncpg", "postgresql").split("?")[0]
    connection = await asyncpg.connect(plain_url, ssl=False)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM intake.leads WHERE source_id = $1", SOURCE_ID
            )
        )
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=10, help="database pool per worker")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    workdir = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    ensure_server()
    database = f"bench_intake_{os.getpid()}"
    # Loopback needs no TLS; asyncpg would otherwise negotiate it and pay for it on both ends.
    database_url = asyncio.run(create_database(database)) + "?ssl=disable"
    broker = KafkaBroker(workdir / "kafka")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        broker.start()
        asyncio.run(create_topics(broker.bootstrap_servers, topic_layout(6)))
        sources_file = workdir / "sources.yaml"
        sources_file.write_text(
            json.dumps(
                {
                    "sources": [
                        {
                            "id": SOURCE_ID,
                            "kind": "generic",
                            "secrets": [SECRET],
                            "rate_limit": "10000000/minute",
                            "default_region": "DE",
                            "options": {
                                "signature_header": "X-Signature",
                                "signature_prefix": "sha256=",
                                "delivery_id_path": "delivery",
                                "field_map": {
                                    "email": "contact.email",
                                    "first_name": "contact.first",
                                    "last_name": "contact.last",
                                    "company": "contact.company",
                                    "phone": "contact.phone",
                                    "country": "contact.country",
                                },
                            },
                        }
                    ]
                }
            )
        )
        port, bare_port = free_port(), free_port()
        intake_env = {
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "INTAKE_PORT": str(port),
            "INTAKE_WORKERS": str(args.workers),
            "INTAKE_ENVIRONMENT": "test",
            "INTAKE_API_KEYS": json.dumps([ADMIN_KEY]),
            "INTAKE_SOURCES_FILE": str(sources_file),
            "INTAKE_LOG_LEVEL": "WARNING",
            "INTAKE_DATABASE_POOL_SIZE": str(args.pool_size),
        }
        processes.append(
            start([sys.executable, "-m", "handoff_intake"], intake_env, workdir / "intake.log")
        )
        (workdir / "bare_app.py").write_text(BARE_APP)
        processes.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--port",
                    str(bare_port),
                    "--workers",
                    str(args.workers),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--app-dir",
                    str(workdir),
                ],
                {},
                workdir / "bare.log",
            )
        )
        intake_url = f"http://127.0.0.1:{port}"
        wait_answering(f"{intake_url}/healthz")
        wait_answering(f"http://127.0.0.1:{bare_port}/docs")

        script = workdir / "webhooks.lua"
        script.write_text(WRK_SCRIPT)
        # One file per run, each lead new: a body sent twice would only measure the replay path.
        warm_up, saturating, calibrating, paced_bodies = (
            workdir / f"{run}.tsv" for run in ("w", "s", "c", "p")
        )
        write_bodies(warm_up, 15_000)
        write_bodies(calibrating, 15_000)
        write_bodies(saturating, 6000 * args.seconds)
        write_bodies(paced_bodies, 3000 * args.seconds)
        path = f"/webhooks/{SOURCE_ID}"
        common = {"threads": args.threads, "connections": args.connections}

        run_wrk(intake_url, path, warm_up, script, seconds=3, **common)  # connection pools
        before = asyncio.run(stored_leads(database_url))
        sustained = run_wrk(intake_url, path, saturating, script, seconds=args.seconds, **common)
        stored = asyncio.run(stored_leads(database_url)) - before

        # wrk paces each connection by a fixed delay before each request; the response time adds
        # to it, so one short calibration run measures that and shortens the delay to match.
        half_rate = sustained["rate"] / 2
        paced_connections = 32
        cycle_ms = 1000 * paced_connections / half_rate
        calibration = run_wrk(
            intake_url,
            path,
            calibrating,
            script,
            threads=args.threads,
            connections=paced_connections,
            seconds=4,
            delay_ms=cycle_ms,
        )
        response_ms = 1000 * paced_connections / calibration["rate"] - cycle_ms
        paced = run_wrk(
            intake_url,
            path,
            paced_bodies,
            script,
            threads=args.threads,
            connections=paced_connections,
            seconds=args.seconds,
            delay_ms=max(0.0, cycle_ms - response_ms),
        )
        bare = run_wrk(
            f"http://127.0.0.1:{bare_port}",
            path,
            saturating,
            script,
            seconds=args.seconds,
            **common,
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        broker.stop()
        asyncio.run(drop_database(database))

    print(
        f"machine: {os.cpu_count()} cores; intake workers={args.workers}, wrk "
        f"-t{args.threads} -c{args.connections}, {args.seconds}s per run"
    )
    print(
        f"sustained intake: {sustained['rate']:.0f} leads/s "
        f"({sustained['requests']:.0f} requests, non-2xx {sustained['non2xx']:.0f}, "
        f"errors {sustained['errors']:.0f}; {stored} new leads committed in that run)"
    )
    print(
        f"  latency under saturation: p50 {sustained['p50_ms']:.1f} ms, "
        f"p99 {sustained['p99_ms']:.1f} ms"
    )
    print(
        f"ack latency at ~{half_rate:.0f}/s (achieved {paced['rate']:.0f}/s): "
        f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms"
    )
    print(
        f"bare FastAPI endpoint: {bare['rate']:.0f} req/s; "
        f"intake/bare = {sustained['rate'] / bare['rate']:.2f}"
    )


if __name__ == "__main__":
    main()
