"""The typed settings (cardsort_app/settings.py) and the composition root that builds from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cardsort_app import bootstrap
from cardsort_app.bus.ably_bus import AblyBus
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.settings import DEFAULT_DATABASE_URL, REPO_ROOT, Settings

ABLY_ENV = {
    "ABLY_API_KEY": "app.key:secret",
    "ABLY_ENDPOINT": "127.0.0.1:8080/",
    "ABLY_TLS": "0",
    "ABLY_USE_TOKEN_AUTH": "1",
    "ABLY_REALTIME_REQUEST_TIMEOUT_MS": "1500",
    "ABLY_DISCONNECTED_RETRY_TIMEOUT_MS": "300",
    "ABLY_CHANNEL_RETRY_TIMEOUT_MS": "700",
    "ABLY_PUBLISH_TIMEOUT_MS": "2500",
    "ABLY_CONNECT_TIMEOUT_MS": "4000",
    "ABLY_ATTACH_TIMEOUT_MS": "3000",
    "ABLY_CHANNEL_RATE": "20",
    "ABLY_MAX_MESSAGE_BYTES": "4096",
}
ALL = (
    "DATABASE_URL",
    "CARDSORT_SNAPSHOT_EVERY",
    "CARDSORT_IDLE_END_MINUTES",
    "CARDSORT_RETENTION_DAYS",
    "REDIS_URL",
    "GRANIAN_WORKERS",
    *ABLY_ENV,
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    """A clean environment: every variable the settings read unset; `env(**vars)` sets some."""
    for name in ALL:
        monkeypatch.delenv(name, raising=False)

    def set_vars(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return Settings()

    return set_vars


def test_defaults_are_the_embedded_setup(env) -> None:
    settings = env()
    assert settings.database_url == DEFAULT_DATABASE_URL == f"sqlite:///{REPO_ROOT / 'data' / 'cardsort.db'}"
    assert Path(settings.database_url.removeprefix("sqlite:///")).is_absolute()  # not relative to the cwd
    assert settings.snapshot_every == 100
    assert (settings.idle_end_minutes, settings.retention_days) == (240, 30)
    assert settings.redis_url is None and settings.granian_workers is None
    assert not settings.uses_ably
    assert isinstance(bootstrap.make_bus(settings), InProcessBus)


def test_empty_variables_count_as_unset(env) -> None:
    settings = env(DATABASE_URL="", ABLY_API_KEY="  ", CARDSORT_SNAPSHOT_EVERY="")
    assert settings.database_url == DEFAULT_DATABASE_URL and settings.snapshot_every == 100
    assert not settings.uses_ably


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql://db/cardsort"),
        ("CARDSORT_SNAPSHOT_EVERY", "0"),
        ("CARDSORT_SNAPSHOT_EVERY", "often"),
        ("CARDSORT_IDLE_END_MINUTES", "-1"),
        ("CARDSORT_RETENTION_DAYS", "a month"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("ABLY_API_KEY", "no-secret-here"),
        ("ABLY_TLS", "maybe"),
        ("ABLY_PUBLISH_TIMEOUT_MS", "soon"),
        ("ABLY_ATTACH_TIMEOUT_MS", "-5"),
        ("ABLY_CHANNEL_RATE", "0"),
        ("ABLY_MAX_MESSAGE_BYTES", "1000"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(env, variable: str, value: str) -> None:
    extra = {"ABLY_API_KEY": "a.b:c"} if variable.startswith("ABLY_") and variable != "ABLY_API_KEY" else {}
    with pytest.raises(ValidationError, match=variable):
        env(**extra, **{variable: value})


def test_several_workers_need_ably(env) -> None:
    with pytest.raises(ValidationError, match="GRANIAN_WORKERS > 1 needs ABLY_API_KEY"):
        env(GRANIAN_WORKERS="3")
    assert env(GRANIAN_WORKERS="3", ABLY_API_KEY="a.b:c").granian_workers == 3


def test_the_ably_variables_configure_the_bus(env) -> None:
    bus = bootstrap.make_bus(env(ABLY_API_KEY="app.key:secret"))
    assert isinstance(bus, AblyBus)
    opts = bus.sdk_options()
    assert opts["key"] == "app.key:secret" and opts["tls"] is True and opts["use_token_auth"] is False
    assert "endpoint" not in opts and "client_id" not in opts
    assert opts["realtime_request_timeout"] == 5000 and opts["disconnected_retry_timeout"] == 2000
    assert bus.publish_timeout == 5.0

    bus = bootstrap.make_bus(env(**ABLY_ENV))
    assert isinstance(bus, AblyBus)
    opts = bus.sdk_options()
    assert opts["endpoint"] == "127.0.0.1:8080/" and opts["tls"] is False and opts["use_token_auth"] is True
    # token auth: a wildcard clientId, also in the token requests (SDK quirks, see AblyBus.sdk_options)
    assert opts["client_id"] == "*" and opts["default_token_params"] == {"client_id": "*"}
    timeouts = ("realtime_request_timeout", "disconnected_retry_timeout", "channel_retry_timeout")
    assert tuple(opts[name] for name in timeouts) == (1500, 300, 700)
    assert (bus.publish_timeout, bus.connect_timeout, bus.attach_timeout) == (2.5, 4.0, 3.0)
    assert (bus.channel_rate, bus.max_message_bytes) == (20, 4096)


def test_the_secret_key_never_shows_in_the_settings_repr(env) -> None:
    assert "secret" not in repr(env(ABLY_API_KEY="app.key:secret"))
