"""dashboard/.streamlit/config.toml: the server's security settings, and only real options."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit import config as st_config

CONFIG = Path(__file__).resolve().parents[2] / "dashboard" / ".streamlit" / "config.toml"


def _options() -> dict[str, object]:
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    return {f"{section}.{key}": value for section, values in data.items() for key, value in values.items()}


def test_every_setting_is_a_streamlit_option() -> None:
    unknown = sorted(set(_options()) - set(st_config._config_options_template))
    assert unknown == [], f"not Streamlit options (typo?): {unknown}"


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("server.enableXsrfProtection", True),
        ("server.enableCORS", True),
        ("server.headless", True),
        ("server.maxUploadSize", 50),
        ("browser.gatherUsageStats", False),
        ("client.showErrorDetails", "none"),
        ("client.toolbarMode", "viewer"),
    ],
)
def test_security_setting(option: str, expected: object) -> None:
    assert _options()[option] == expected
