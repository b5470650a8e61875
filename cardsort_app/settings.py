"""Every environment variable the app reads, in one place, with its default and validation (README
"Configuration"). Read once per process by the composition root (cardsort_app/bootstrap.py) and rxconfig.py.

A bad value stops start-up with a message naming the variable, instead of surfacing later as an odd error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The embedded default: a SQLite file under ./data of the checkout, whatever the working directory.
DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'data' / 'cardsort.db'}"


def _unset(variable: str) -> Any:
    return Field(None, validation_alias=variable)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    snapshot_every: PositiveInt = Field(100, validation_alias="CARDSORT_SNAPSHOT_EVERY")
    idle_end_minutes: NonNegativeFloat = Field(240, validation_alias="CARDSORT_IDLE_END_MINUTES")
    # A closed tab's Reflex state and records are released this long after its socket went (ui/tab_expiry.py)
    tab_grace_seconds: NonNegativeFloat = Field(20, validation_alias="CARDSORT_TAB_GRACE_SECONDS")
    retention_days: NonNegativeFloat = Field(30, validation_alias="CARDSORT_RETENTION_DAYS")
    redis_url: str | None = _unset("REDIS_URL")
    granian_workers: PositiveInt | None = _unset("GRANIAN_WORKERS")

    ably_api_key: SecretStr | None = _unset("ABLY_API_KEY")
    ably_endpoint: str | None = _unset("ABLY_ENDPOINT")
    ably_tls: bool = Field(True, validation_alias="ABLY_TLS")
    ably_use_token_auth: bool = Field(False, validation_alias="ABLY_USE_TOKEN_AUTH")
    # SDK options and the bus's own waits, in milliseconds (unset: see cardsort_app/bus/ably_bus.py)
    ably_realtime_request_timeout_ms: PositiveInt | None = _unset("ABLY_REALTIME_REQUEST_TIMEOUT_MS")
    ably_disconnected_retry_timeout_ms: PositiveInt | None = _unset("ABLY_DISCONNECTED_RETRY_TIMEOUT_MS")
    ably_channel_retry_timeout_ms: PositiveInt | None = _unset("ABLY_CHANNEL_RETRY_TIMEOUT_MS")
    ably_publish_timeout_ms: PositiveInt | None = _unset("ABLY_PUBLISH_TIMEOUT_MS")
    ably_connect_timeout_ms: PositiveInt | None = _unset("ABLY_CONNECT_TIMEOUT_MS")
    ably_attach_timeout_ms: PositiveInt | None = _unset("ABLY_ATTACH_TIMEOUT_MS")
    # Ably's limits the bus stays under: messages/s per channel, bytes per message (unset: Ably's defaults)
    ably_channel_rate: PositiveFloat | None = _unset("ABLY_CHANNEL_RATE")
    ably_max_message_bytes: int | None = Field(None, ge=2048, validation_alias="ABLY_MAX_MESSAGE_BYTES")

    # Limits (README "Limits"; cardsort_app/service/limits.py)
    creates_per_client_per_minute: NonNegativeFloat = Field(
        20, validation_alias="CARDSORT_CREATES_PER_CLIENT_PER_MINUTE"
    )
    creates_per_minute: NonNegativeFloat = Field(300, validation_alias="CARDSORT_CREATES_PER_MINUTE")
    joins_per_client_per_minute: NonNegativeFloat = Field(
        300, validation_alias="CARDSORT_JOINS_PER_CLIENT_PER_MINUTE"
    )
    participants_per_session: PositiveInt = Field(300, validation_alias="CARDSORT_PARTICIPANTS_PER_SESSION")
    commands_per_second: NonNegativeFloat = Field(20, validation_alias="CARDSORT_COMMANDS_PER_SECOND")
    command_burst: PositiveFloat = Field(60, validation_alias="CARDSORT_COMMAND_BURST")
    max_open_sessions: PositiveInt = Field(500, validation_alias="CARDSORT_MAX_OPEN_SESSIONS")
    max_body_bytes: PositiveInt = Field(64 * 1024, validation_alias="CARDSORT_MAX_BODY_BYTES")
    # Set: GET /metrics wants `Authorization: Bearer <it>` (unset: open, for a scraper on a private network)
    metrics_token: SecretStr | None = _unset("CARDSORT_METRICS_TOKEN")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = sa.make_url(value)
        except sa.exc.ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("the event log runs on SQLite or PostgreSQL (postgresql+psycopg://...)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db (or rediss://, unix://)")
        return value

    @field_validator("ably_api_key")
    @classmethod
    def _ably_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        app_key, sep, secret = value.get_secret_value().strip().partition(":")
        if not sep or "." not in app_key or not secret:
            raise ValueError("expected appId.keyId:secret")
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _workers_need_a_shared_bus(self) -> Settings:
        if (self.granian_workers or 1) > 1 and self.ably_api_key is None:
            raise ValueError(
                "GRANIAN_WORKERS > 1 needs ABLY_API_KEY: without it events do not cross worker processes"
            )
        return self

    @property
    def uses_ably(self) -> bool:
        return self.ably_api_key is not None

    def ably_client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``ably.AblyRealtime`` (see cardsort_app/bus/ably_bus.py)."""
        if self.ably_api_key is None:
            raise ValueError("ABLY_API_KEY is not set")
        options: dict[str, Any] = {
            "key": self.ably_api_key.get_secret_value(),
            "tls": self.ably_tls,
            "use_token_auth": self.ably_use_token_auth,
        }
        if self.ably_endpoint:
            options["endpoint"] = self.ably_endpoint
        for option in ("realtime_request_timeout", "disconnected_retry_timeout", "channel_retry_timeout"):
            if (ms := getattr(self, f"ably_{option}_ms")) is not None:
                options[option] = ms
        return options

    def ably_bus_options(self) -> dict[str, float]:
        """Keyword arguments for `AblyBus` besides the client options: its own waits (in seconds) and
        Ably's limits, for those set."""
        options: dict[str, float] = {
            name: ms / 1000
            for name in ("publish_timeout", "connect_timeout", "attach_timeout")
            if (ms := getattr(self, f"ably_{name}_ms")) is not None
        }
        if self.ably_channel_rate is not None:
            options["channel_rate"] = self.ably_channel_rate
        if self.ably_max_message_bytes is not None:
            options["max_message_bytes"] = self.ably_max_message_bytes
        return options

    def limit_options(self) -> dict[str, float]:
        """Keyword arguments for `service.limits.LimitSettings`."""
        names = (
            "creates_per_client_per_minute", "creates_per_minute", "joins_per_client_per_minute",
            "participants_per_session", "commands_per_second", "command_burst", "max_open_sessions",
            "max_body_bytes",
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}


def load_settings() -> Settings:
    """The settings from the environment; raises pydantic's ValidationError naming each bad variable."""
    return Settings()
