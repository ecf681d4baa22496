"""The README documents every command and every endpoint setting: a test fails when one is
added without its line (the datasette habit)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import click
import pytest

from analytics.settings import EndpointSettings
from registry.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(cmd: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*prefix, name))
    else:
        yield " ".join(prefix)


@pytest.mark.parametrize("command", sorted(_commands(main)))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"msreg {command}" in README, f"`msreg {command}` is not documented in README.md"


def _setting_options() -> list[str]:
    options = {"--" + f.name.replace("_", "-") for f in fields(EndpointSettings)}
    survival = main.commands["survival"]
    offered = {opt for p in survival.params for opt in getattr(p, "opts", [])}
    return sorted(options & offered)


def test_the_settings_are_offered_as_options() -> None:
    assert {"--confirmation-days", "--mri-rebaseline-days"} <= set(_setting_options())


@pytest.mark.parametrize("option", _setting_options())
def test_every_endpoint_setting_option_is_in_the_readme(option: str) -> None:
    assert option in README, f"{option} is not documented in README.md"


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
