"""Alembic environment: batch mode everywhere (SQLite ALTER support), foreign keys off for the
migration connection on SQLite (batch mode recreates tables), constraint names from the
models' naming convention."""

from __future__ import annotations

from alembic import context

from registry.db import make_engine
from registry.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str | None:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or None


def run_migrations_offline() -> None:
    context.configure(
        url=_url() or "sqlite:///registry.db",
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), for_migrations=True)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
