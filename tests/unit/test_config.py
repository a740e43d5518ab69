"""Configuration is checked at start; a bad setting is named with its rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relevo.config import ConfigError, load_settings


def test_defaults_hold_without_any_setting(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.late_horizon, settings.future_skew) == (
        timedelta(days=7),
        timedelta(minutes=5),
    )
    assert settings.max_batch_events == 1000 and settings.sqlite_synchronous == "full"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RELEVO_LATE_HORIZON", "-P1D"),
        ("RELEVO_LATE_HORIZON", "forever"),
        ("RELEVO_FUTURE_SKEW", "-PT1M"),
        ("RELEVO_MAX_BATCH_EVENTS", "0"),
        ("RELEVO_SQLITE_SYNCHRONOUS", "sometimes"),
        ("RELEVO_SECRET", "short"),
        ("RELEVO_PORT", "70000"),
        ("RELEVO_LATE_HORIZN", "P1D"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch, tmp_path, name, value) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert name in str(caught.value)


def test_a_toml_file_is_read_and_checked(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relevo.toml").write_text('late_horizon = "P2D"\nport = 9000\n')
    assert load_settings().late_horizon == timedelta(days=2)
    (tmp_path / "relevo.toml").write_text("porte = 9000\n")
    with pytest.raises(ConfigError, match="PORTE"):
        load_settings()
    monkeypatch.setenv("RELEVO_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="RELEVO_CONFIG"):
        load_settings()
