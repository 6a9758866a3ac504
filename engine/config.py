"""The one settings object: every environment variable labelbot reads is declared here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Engine and storage settings, read from the environment (and an optional `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="sqlite:///labelbot.db",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    encoder: str = Field(
        default=DEFAULT_ENCODER,
        validation_alias="LABELBOT_ENCODER",
        description="Encoder name: the bundled MiniLM, or a local transformers model path",
    )
    data_dir: Path = Field(
        default=Path(".labelbot"),
        validation_alias="LABELBOT_DATA_DIR",
        description="Where embeddings caches and model artifacts live",
    )
    api_token: str | None = Field(
        default=None,
        validation_alias="LABELBOT_API_TOKEN",
        description="Bearer token the REST API requires",
    )
    assignment_ttl_minutes: float = Field(
        default=30.0,
        validation_alias="LABELBOT_ASSIGNMENT_TTL_MINUTES",
        description="Minutes before an unanswered example returns to the pool",
    )
    keep_models: int = Field(
        default=5,
        validation_alias="LABELBOT_KEEP_MODELS",
        description="Model files kept besides the active one (older runs keep their metrics)",
    )
    scheduler_poll_seconds: float = Field(
        default=15.0,
        gt=0,
        validation_alias="LABELBOT_SCHEDULER_POLL_SECONDS",
        description="Seconds between the scheduler's checks for projects to retrain",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
