"""`msreg query list|open|answer|close`: data queries from the command line, through the same
service as the dashboard (registry/queries.py). The CLI acts as an administrator."""

from __future__ import annotations

import click


def register(main: click.Group, export: click.Group) -> None:
    from registry.cli import CliContext, db_option, pass_cli

    @main.group("query")
    def query() -> None:
        """Data queries to centres: list, open, answer, close."""

    def _run(cli: CliContext, fn):  # type: ignore[no-untyped-def]
        from registry.security.access import AccessDenied, cli_actor
        from registry.db import make_engine, session_scope
        from registry.queries import QueryError

        engine = make_engine(cli.url)
        try:
            with session_scope(engine) as session:
                return fn(session, cli_actor())
        except (AccessDenied, QueryError) as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            engine.dispose()

    def _line(q) -> str:  # type: ignore[no-untyped-def]
        where = q.entity + (f".{q.field_name}" if q.field_name else "")
        if q.record_key:
            where += " " + ", ".join(f"{k}={v}" for k, v in q.record_key.items() if k not in ("centre_code", "patient_code"))
        text = f"{q.id:>5}  {q.status:<8}  {q.centre_code:<8} {q.patient_code or q.study_id:<12} {where:<28} {q.question}"
        if q.answer:
            text += f"  [answer by {q.answered_by}: {q.answer}]"
        return text

    @query.command("list")
    @click.option("--status", type=click.Choice(["OPEN", "ANSWERED", "CLOSED"]), multiple=True, help="Only these statuses (repeatable).")
    @click.option("--centre", default=None, help="Only this centre.")
    @db_option
    @pass_cli
    def list_cmd(cli: CliContext, status: tuple[str, ...], centre: str | None) -> None:
        """The data queries, oldest first: id, status, centre, patient, record and field, question."""
        from registry.queries import list_queries

        rows = _run(cli, lambda s, a: list_queries(s, a, status=status or None, centre_code=centre))
        for q in rows:
            click.echo(_line(q))
        click.echo(f"{len(rows)} quer{'y' if len(rows) == 1 else 'ies'}", err=True)

    @query.command("open")
    @click.argument("question")
    @click.option("--study-id", default=None, help="The patient's study id.")
    @click.option("--centre", default=None, help="Centre code (with --patient).")
    @click.option("--patient", default=None, help="Patient code (with --centre).")
    @click.option("--entity", default="patients", show_default=True, help="Record type: patients, transplants, visits, relapses, mri, adverse_events, deaths.")
    @click.option("--field", "field_name", default=None, help="The field the question is about.")
    @click.option("--record", "record", multiple=True, metavar="COLUMN=VALUE", help="The record's key, e.g. visit_date=2021-03-04 (repeatable).")
    @db_option
    @pass_cli
    def open_cmd(cli: CliContext, question: str, study_id: str | None, centre: str | None, patient: str | None,
                 entity: str, field_name: str | None, record: tuple[str, ...]) -> None:
        """Open a data query on a patient (optionally one record and field)."""
        from registry.queries import open_query

        key = {}
        for item in record:
            name, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not COLUMN=VALUE", param_hint="--record")
            key[name.strip()] = value.strip()
        q = _run(cli, lambda s, a: open_query(s, a, question=question, entity=entity, field_name=field_name,
                                              record_key=key or None, study_id=study_id, centre_code=centre, patient_code=patient))
        click.echo(f"opened data query {q.id} for {q.centre_code}")

    @query.command("answer")
    @click.argument("query_id", type=int)
    @click.argument("answer")
    @db_option
    @pass_cli
    def answer_cmd(cli: CliContext, query_id: int, answer: str) -> None:
        """Answer a data query (status becomes ANSWERED)."""
        from registry.queries import answer_query

        q = _run(cli, lambda s, a: answer_query(s, a, query_id, answer))
        click.echo(f"answered data query {q.id}")

    @query.command("close")
    @click.argument("query_id", type=int)
    @click.option("--note", default=None, help="Why it is closed (goes into the audit trail).")
    @db_option
    @pass_cli
    def close_cmd(cli: CliContext, query_id: int, note: str | None) -> None:
        """Close a data query."""
        from registry.queries import close_query

        q = _run(cli, lambda s, a: close_query(s, a, query_id, note=note))
        click.echo(f"closed data query {q.id}")
