"""Argon2 at minimal cost for tests (full OWASP cost is tested once, in test_auth.py).

`cheap_argon2` is an autouse fixture: importing it into a test module turns it on there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from registry.security import auth

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    with auth.use_hasher(CHEAP_HASHER):
        yield
