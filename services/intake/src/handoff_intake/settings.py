"""Intake settings (environment variables prefixed INTAKE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from handoff_intake.adapters.secret_box import valid_key
from handoff_shared.settings import ServiceSettings

DEVELOPMENT_API_KEY = "dev-key-change-me"

DEFAULT_REJECTION_REASONS = [
    "not_a_fit",
    "no_budget",
    "no_authority",
    "no_need",
    "bad_timing",
    "already_customer",
    "competitor",
    "duplicate",
    "bad_contact_data",
    "spam",
    "other",
]


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/intake.db"
    database_pool_size: int = Field(default=10, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL the outside world posts to; HubSpot signs the full public URL",
    )
    api_keys: list[str] = Field(
        default=[DEVELOPMENT_API_KEY],
        description="Bootstrap X-API-Key values with every scope (admin included)",
    )
    sources_file: Path | None = Field(
        default=None, description="YAML file of sources loaded into the database at start-up"
    )
    dedup_window_days: int = Field(
        default=30, ge=0, description="Same email or external id inside it updates the lead"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Request body cap")
    source_rate_limit: str = Field(
        default="100/second", description="Per-source webhook rate limit unless the source sets one"
    )
    outbox_backlog_limit: int = Field(
        default=200_000, ge=0, description="Unpublished events past which intake answers 503"
    )
    backlog_refresh_seconds: float = Field(default=1.0, gt=0)
    backlog_retry_after_seconds: int = Field(default=10, ge=1)
    catalog_refresh_seconds: float = Field(
        default=5.0, gt=0, description="How long a cached source or API key list is trusted"
    )
    upstream_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of calls to tools' APIs (Graph API, LinkedIn)"
    )
    write_batch_max: int = Field(
        default=200, ge=1, description="Most webhook deliveries stored in one transaction"
    )
    write_concurrency: int = Field(
        default=1,
        ge=1,
        description="Webhook write transactions in flight per process; one lets deliveries "
        "gather into larger batches while it commits, which costs less per lead",
    )
    rejection_reasons: list[str] = Field(default=DEFAULT_REJECTION_REASONS, min_length=1)
    consumer_group: str = "intake"
    secrets_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Fernet keys that seal source secrets at rest, newest first (the first seals, "
        "any opens); without one, secrets are stored in plain text",
    )

    @field_validator("secrets_keys")
    @classmethod
    def _fernet_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            valid_key(key.get_secret_value())
        return keys

    @model_validator(mode="after")
    def _no_placeholder_key_outside_development(self) -> IntakeSettings:
        if self.environment != "development" and DEVELOPMENT_API_KEY in self.api_keys:
            raise ValueError("INTAKE_API_KEYS still holds the development placeholder key")
        return self
