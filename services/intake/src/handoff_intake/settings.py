"""Intake settings (environment variables prefixed INTAKE_)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from handoff_shared.settings import ServiceSettings

DEVELOPMENT_API_KEY = "dev-key-change-me"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/intake.db"
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(
        default=[DEVELOPMENT_API_KEY], description="Accepted X-API-Key values"
    )
    dedup_window_days: int = Field(
        default=30, ge=0, description="Same email inside it updates the lead"
    )
    consumer_group: str = "intake"

    @model_validator(mode="after")
    def _no_placeholder_key_outside_development(self) -> IntakeSettings:
        if self.environment != "development" and DEVELOPMENT_API_KEY in self.api_keys:
            raise ValueError("INTAKE_API_KEYS still holds the development placeholder key")
        return self
