"""`msreg audit verify` and `msreg audit checkpoint`: the whole check, as one report.

`verify_registry(url)` finds the key ring and witness where `msreg init` put them
(registry.security.anchor.key_path_for), recomputes both chains (audit and access) and compares every
signed head the witness (and any notarised line given) recorded with what the tables hold.
It returns a `VerifyReport`; printing it and the exit status are the CLI's business, so
`msreg doctor` can reuse it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from registry.security import anchor, chain
from registry.security.audit import row_hash
from registry.security.chain import ChainReport


@dataclass(slots=True)
class VerifyReport:
    key_path: Path
    witness_path: Path
    chains: dict[str, ChainReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _witness_lines(path: Path) -> list[anchor.WitnessLine]:
    try:
        return list(anchor.read_witness(path))
    except FileNotFoundError:
        return []


def parse_expected(lines: Iterable[str]) -> list[anchor.WitnessLine]:
    """Notarised checkpoint lines (as `msreg audit checkpoint` printed them)."""
    out = []
    for number, raw in enumerate(lines, start=1):
        try:
            body = json.loads(raw)
            body = body if isinstance(body, dict) else None
        except ValueError:
            body = None
        out.append(anchor.WitnessLine(number, body, raw))
    return out


def verify_registry(engine: Engine, url: str, *, expected: Iterable[str] = ()) -> VerifyReport:
    """Verify both chains against the key ring and the witness (and notarised lines)."""
    report = VerifyReport(anchor.key_path_for(url), anchor.witness_path_for(url))
    ring: anchor.KeyRing | None
    try:
        ring = anchor.read_ring(report.key_path)
    except anchor.KeyMissing:
        ring = None
    except anchor.AnchorError as exc:
        ring = None
        report.problems.append(str(exc))
    witness = _witness_lines(report.witness_path)
    notarised = parse_expected(expected)
    wanted: set[int] = set()
    for line in [*witness, *notarised]:
        if line.body and isinstance(line.body.get("last_id"), int):
            wanted.add(line.body["last_id"])
    from registry.db import make_session_factory

    with make_session_factory(engine)() as session:
        for spec in chain.CHAINS:
            rows = chain.read_rows(session, spec)
            report.chains[spec.name] = chain.verify_rows(
                spec, rows, ring, legacy_hash=row_hash if spec is chain.AUDIT else None, wanted=wanted
            )
    signed = any(r.keys_used for r in report.chains.values())
    if ring is None and signed and not any("damaged" in p for p in report.problems):
        report.problems.append(
            f"audit key file {report.key_path} is missing: the trail is signed and cannot be checked without it. "
            f"Restore the key file from your key backup (README, 'Audit trail'), or set {anchor.KEY_DIR_ENV} to "
            "the folder that holds it"
        )
    if signed and not report.witness_path.exists():
        report.problems.append(
            f"witness file {report.witness_path} is missing: nothing outside the database remembers the chain's "
            "length. Restore it from your key backup; if it is truly lost, run `msreg audit checkpoint` to start a "
            "new one and compare with your notarised checkpoints"
        )
    for spec in chain.CHAINS:
        chain_report = report.chains[spec.name]
        report.problems += _listed([p.message for p in chain_report.problems], spec.name)
        for lines, source in ((witness, f"witness {report.witness_path.name}"), (notarised, "notarised checkpoint")):
            finding = chain.witness_problems(
                spec, chain_report, lines, ring, source=source, report_unparsed=spec is chain.AUDIT
            )
            report.problems += _listed(finding.problems, f"{spec.name} witness")
            report.notes += finding.notes
            report.checkpoints += finding.checkpoints
    return report


def _listed(problems: list[str], what: str) -> list[str]:
    if len(problems) <= chain.MAX_LISTED_PROBLEMS:
        return problems
    more = len(problems) - chain.MAX_LISTED_PROBLEMS
    return [*problems[: chain.MAX_LISTED_PROBLEMS], f"... and {more} more problem(s) in the {what}"]


def checkpoint(engine: Engine, url: str) -> list[dict[str, Any]]:
    """Sign the current head of each chain, append it to the witness, and return the lines
    (for the administrator to send to a notary or a mailbox).

    :raises anchor.AnchorError: no key file (run `msreg init`).
    """
    ring = anchor.read_ring(anchor.key_path_for(url))
    from registry.db import make_session_factory

    lines = []
    with make_session_factory(engine)() as session:
        for spec in chain.CHAINS:
            last = chain.head_of(session, spec)
            lines.append(anchor.sign(ring, anchor.checkpoint_body(last, extra={"registry": anchor.registry_file_stem(url)})))
    anchor.append_witness(anchor.witness_path_for(url), lines)
    return lines
