"""`msreg` commands: user, audit."""

from __future__ import annotations

import click


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
