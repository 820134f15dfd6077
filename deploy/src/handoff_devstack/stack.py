"""`make run`: one local Kafka broker and the three services, SQLite files, Ctrl-C stops all."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

from handoff_devstack.kafka import KafkaBroker, create_topics
from handoff_shared.topics import topic_layout

# The router's API; the SLA monitor serves only metrics, on a port of its own.
ROUTER_PORT = 8001
SLA_METRICS_PORT = 9103
SERVICES = {
    "intake": ("handoff_intake", "INTAKE_"),
    "router": ("handoff_router", "ROUTER_"),
    "sla-monitor": ("handoff_sla", "SLA_"),
}


def _service_env(prefix: str, run_dir: Path, bootstrap: str, name: str) -> dict[str, str]:
    settings = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / (name + '.db')}",
        "LOG_JSON": "false",
        "CLOCK_FILE": str(run_dir / "clock-offset-seconds"),
    }
    return {**os.environ, **{prefix + key: value for key, value in settings.items()}}


def _wait_for_http(url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited at start-up; see its log in the run folder")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:g}s")


def run(run_dir: Path, kafka_port: int, intake_port: int, partitions: int) -> None:
    run_dir = run_dir.resolve()
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = KafkaBroker(run_dir / "kafka", port=kafka_port, controller_port=kafka_port + 1)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # Both stop everything the same way, even when started where SIGINT was ignored (`cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(f"Starting Kafka on {broker.bootstrap_servers} ...", flush=True)
        broker.start()
        asyncio.run(create_topics(broker.bootstrap_servers, topic_layout(partitions)))
        for name, (module, prefix) in SERVICES.items():
            env = _service_env(prefix, run_dir, broker.bootstrap_servers, name)
            if name == "intake":
                env["INTAKE_PORT"] = str(intake_port)
            if name == "router":
                env["ROUTER_PORT"] = str(ROUTER_PORT)
            if name == "sla-monitor":
                env["SLA_METRICS_PORT"] = str(SLA_METRICS_PORT)
            with (logs / f"{name}.log").open("ab") as log:
                # A session of their own: Ctrl-C reaches only this launcher, which stops them.
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", module],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        base = f"http://127.0.0.1:{intake_port}"
        _wait_for_http(f"{base}/healthz", processes, timeout=60)
        print(_banner(base, broker.bootstrap_servers, run_dir), flush=True)
        while all(process.poll() is None for process in processes.values()) and broker.running:
            time.sleep(0.5)
        raise SystemExit("a service or the broker stopped; see the logs in " + str(logs))
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        # A second Ctrl-C (or uv passing the first one on again) must not cut the clean-up short
        # and leave the services or the broker running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()


EXAMPLE_LEAD = json.dumps(
    {
        "email": "ada@example.com",
        "first_name": "Ada",
        "form_type": "demo_request",
        "employee_count": 250,
    },
    separators=(",", ":"),
)


def _banner(base: str, bootstrap: str, run_dir: Path) -> str:
    post_example = (
        f"curl -s {base}/leads -H 'X-API-Key: dev-key-change-me'"
        f" -H 'Content-Type: application/json' -d '{EXAMPLE_LEAD}'"
    )
    report = (
        f"SLA_DATABASE_URL=sqlite+aiosqlite:///{run_dir / 'sla-monitor.db'} \\\n"
        f"                SLA_CLOCK_FILE={run_dir}/clock-offset-seconds"
        f" uv run handoff-sla-report compliance --since {date.today()}"
    )
    return f"""
Handoff is running.
  API docs:     {base}/docs
  Post a lead:  {post_example}
  Watch topics: kcat -b {bootstrap} -C -t lead.routing -o beginning
                (or: uv run python -m handoff_devstack.watch lead.routing)
  Move SLA time: echo 176400 > {run_dir}/clock-offset-seconds   (49 hours ahead; 0 to reset)
  SLA report:   {report}
  Metrics:      {base}/metrics  http://127.0.0.1:{ROUTER_PORT}/metrics  http://127.0.0.1:{SLA_METRICS_PORT}/metrics
  Logs:         {run_dir}/logs/
Ctrl-C stops everything.
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m handoff_devstack.stack", description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    parser.add_argument("--kafka-port", type=int, default=9092)
    parser.add_argument("--intake-port", type=int, default=8000)
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    run(args.run_dir, args.kafka_port, args.intake_port, args.partitions)


if __name__ == "__main__":
    main()
