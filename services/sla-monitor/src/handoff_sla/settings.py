"""SLA monitor settings (environment variables prefixed SLA_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from handoff_shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/sla.db"
    escalate_after_hours: float = Field(default=48, gt=0)
    recycle_after_hours: float = Field(default=72, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweep_batch_size: int = Field(default=1000, gt=0)
    consumer_group: str = "sla-monitor"
