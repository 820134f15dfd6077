"""SLA monitor settings (environment variables prefixed SLA_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from handoff_shared.notify import Channel
from handoff_shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/sla.db"
    policy_file: Path | None = Field(
        default=None, description="YAML SLA policies; the packaged data/sla_policies.yaml if unset"
    )
    sweep_interval_seconds: float = Field(
        default=1.0, gt=0, description="Longest nap between sweeps; shorter when a timer is due"
    )
    sweep_batch_size: int = Field(default=1000, gt=0)
    sweep_workers: int = Field(
        default=2,
        gt=0,
        description="Overlapping sweep transactions; claims are still taken in turn",
    )
    consumer_group: str = "sla-monitor"
    metrics_port: int | None = Field(
        default=None,
        description="Serve Prometheus metrics at http://HOST:PORT/metrics (the monitor has no "
        "other HTTP server); off unless set",
    )
    notify_channels: list[Channel] = Field(
        default_factory=list, description="JSON list of channels that hear every ladder step"
    )
