"""Settings every service has; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Database, broker, clock and logging settings common to all services."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./.run/handoff.db",
        description="SQLAlchemy async URL; postgresql+asyncpg://... in production",
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_send_timeout_seconds: float = 10.0
    kafka_partitions: int = Field(default=6, ge=1, description="Partitions per topic when created")
    clock_file: Path | None = Field(
        default=None,
        description="If set, time is the wall clock plus the offset (seconds) in this file",
    )
    log_level: str = "INFO"
    log_json: bool = True
    outbox_batch_size: int = 500
    outbox_max_idle_seconds: float = 0.25
    consumer_max_attempts: int = 3
    inbox_retention_days: float = Field(
        default=30,
        gt=0,
        description="Processed event ids are kept this long; longer than the topics keep events",
    )
