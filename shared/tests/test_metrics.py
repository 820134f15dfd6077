"""The metrics page, alone and shared by worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI

from handoff_shared.metrics import EVENTS_PUBLISHED, MULTIPROCESS_DIR, add_metrics_route


async def test_a_service_app_serves_its_metrics_to_prometheus() -> None:
    app = FastAPI()
    add_metrics_route(app)
    EVENTS_PUBLISHED.labels("test.topic", "test.served").inc(3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'handoff_events_published_total{topic="test.topic",type="test.served"} 3.0' in (
        response.text
    )


def test_worker_processes_share_one_metrics_page(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROCESS_DIR: str(tmp_path)}
    count = "from handoff_shared.metrics import EVENTS_PUBLISHED as c; c.labels('t', 'x').inc(2)"
    for _ in range(2):  # two workers, each counting its own
        subprocess.run([sys.executable, "-c", count], env=env, check=True)
    page = subprocess.run(
        [
            sys.executable,
            "-c",
            "from handoff_shared.metrics import exposition as e; print(e()[0].decode())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'handoff_events_published_total{topic="t",type="x"} 4.0' in page
