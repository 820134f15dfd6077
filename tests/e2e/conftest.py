"""The three services as separate processes on the session's broker and database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import API_KEY, ServiceProcess, Stack, answers, free_port, wait_until

# Hot business-hour SLA ladders only for team e2e-hot: see the comment in that file.
SLA_E2E_POLICIES = (
    Path(__file__).parents[2] / "services/sla-monitor/tests/fixtures/e2e_sla_policies.yaml"
)


@pytest.fixture(scope="session")
def stack(
    kafka_bootstrap: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    port, router_port = free_port(), free_port()
    clock_file = workdir / "sla-clock"
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": postgres_url,
        "ENVIRONMENT": "test",
    }
    specific = {
        "intake": (
            "handoff_intake",
            "INTAKE_",
            {"PORT": str(port), "API_KEYS": json.dumps([API_KEY])},
        ),
        "router": (
            "handoff_router",
            "ROUTER_",
            {"PORT": str(router_port), "API_KEYS": json.dumps([API_KEY])},
        ),
        "sla-monitor": (
            "handoff_sla",
            "SLA_",
            {
                "CLOCK_FILE": str(clock_file),
                "SWEEP_INTERVAL_SECONDS": "0.1",
                "POLICY_FILE": str(SLA_E2E_POLICIES),
            },
        ),
    }
    stack = Stack(intake_url=f"http://127.0.0.1:{port}", clock_file=clock_file)
    stack.kafka_bootstrap, stack.postgres_url = kafka_bootstrap, postgres_url
    for name, (module, prefix, extra) in specific.items():
        env = {prefix + key: value for key, value in {**common, **extra}.items()}
        stack.services[name] = ServiceProcess(name, module, env, workdir / f"{name}.log")
    for service in stack.services.values():
        service.start()
    try:
        wait_until(
            lambda: answers(stack.intake_url), timeout=60, what="intake to answer", stack=stack
        )
        yield stack
    finally:
        for service in stack.services.values():
            service.stop()
