"""Schemathesis against intake's OpenAPI schema on the running stack: no input yields a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import API_KEY, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_schemathesis_finds_no_server_error(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    report_dir = tmp_path_factory.mktemp("schemathesis")
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{stack.intake_url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--report-dir",
            str(report_dir),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
