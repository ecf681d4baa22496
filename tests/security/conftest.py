"""Fixtures of the security tests: a cheap Argon2 for speed, and registries with two centres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from registry import auth
from registry.db import session_scope
from registry.models import Centre

CENTRES = ("AAA", "BBB")


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    """Argon2id at minimal cost: production parameters are tested once, in test_auth.py."""
    with auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)):
        yield


def add_centres(engine: Engine, codes: tuple[str, ...] = CENTRES) -> None:
    with session_scope(engine) as session:
        for code in codes:
            session.add(Centre(centre_code=code, name=f"Centre {code}", country="GB"))


@pytest.fixture
def centres_engine(engine: Engine) -> Engine:
    """A fresh registry (each backend) with centres AAA and BBB and no users."""
    add_centres(engine)
    return engine
