"""Fixtures of the security tests: a cheap Argon2 for speed, and registries with two centres."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from registry.db import session_scope
from registry.models import Centre
from tests.security.hashing import cheap_argon2  # noqa: F401 - autouse: cheap Argon2 in every security test

CENTRES = ("AAA", "BBB")


def add_centres(engine: Engine, codes: tuple[str, ...] = CENTRES) -> None:
    with session_scope(engine) as session:
        for code in codes:
            session.add(Centre(centre_code=code, name=f"Centre {code}", country="GB"))


@pytest.fixture
def centres_engine(engine: Engine) -> Engine:
    """A fresh registry (each backend) with centres AAA and BBB and no users."""
    add_centres(engine)
    return engine
