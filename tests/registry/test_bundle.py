"""Bundle import/export: idempotency, audited updates, round trips on both backends, zip and
encoding tolerance, access."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.security.access import AccessDenied, Actor
from registry.io.bundle import BundleRejected, export_bundle, import_bundle, read_bundle, write_bundle
from registry.db import make_engine
from registry.models import AuditEntry
from registry.services import get_record
from registry.validation import ENTITIES
from tests.registry.bundle_helpers import ADMIN, TODAY, base, snapshot, write


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def audit_rows(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_import_writes_one_audit_row_per_inserted_record(sqlite_engine: Engine, tmp_path: Path) -> None:
    result = import_bundle(sqlite_engine, write(base(), tmp_path / "b"), ADMIN, today=TODAY)
    rows = audit_rows(sqlite_engine)
    assert len(rows) == sum(result.inserted.values()) == 15
    assert {r.action for r in rows} == {"INSERT"}
    visit = next(r for r in rows if r.entity == "visits")
    assert json.loads(visit.entity_key) == {"centre_code": "OSL", "patient_code": "P1", "visit_date": "2016-01-01"}
    assert json.loads(visit.new_values)["edss"] == 3.0


def test_second_import_changes_nothing_and_writes_no_audit_rows(sqlite_engine: Engine, tmp_path: Path) -> None:
    folder = write(base(), tmp_path / "b")
    first = import_bundle(sqlite_engine, folder, ADMIN, today=TODAY)
    before = snapshot(sqlite_engine, tmp_path / "s1")
    second = import_bundle(sqlite_engine, folder, ADMIN, today=TODAY)
    assert second.ok
    assert sum(second.inserted.values()) == sum(second.updated.values()) == 0
    assert second.unchanged == first.inserted
    assert snapshot(sqlite_engine, tmp_path / "s2") == before


def test_a_changed_row_is_an_update_audited_with_the_bundle_hash(engine: Engine, tmp_path: Path) -> None:
    """On each backend: the update path (executemany with version check) and its audit row."""
    import_bundle(engine, write(base(), tmp_path / "b1"), ADMIN, today=TODAY)
    changed = base()
    changed["visits"][0]["edss"] = "3.5"
    result = import_bundle(engine, write(changed, tmp_path / "b2"), ADMIN, today=TODAY)
    assert result.ok and result.updated["visits"] == 1 and result.unchanged["visits"] == 2
    assert result.reason.startswith("bundle sha256:") and len(result.reason) == len("bundle sha256:") + 64
    last = audit_rows(engine)[-1]
    assert (last.action, last.entity, last.reason) == ("UPDATE", "visits", result.reason)
    assert json.loads(last.old_values) == {"edss": 3.0} and json.loads(last.new_values) == {"edss": 3.5}
    with Session(engine) as s:
        assert get_record(s, ADMIN, "visits", {"centre_code": "OSL", "patient_code": "P1", "visit_date": "2016-01-01"}).version == 2


def test_an_absent_optional_column_keeps_stored_values_but_an_empty_cell_clears(sqlite_engine: Engine, tmp_path: Path) -> None:
    import_bundle(sqlite_engine, write(base(), tmp_path / "b1"), ADMIN, today=TODAY)
    no_edss = {"visits": [{k: v for k, v in r.items() if k != "edss"} for r in base()["visits"]]}
    assert sum(import_bundle(sqlite_engine, write(no_edss, tmp_path / "b2"), ADMIN, today=TODAY).unchanged.values()) == 3
    cleared = {"visits": [dict(base()["visits"][0], edss="")]}
    assert import_bundle(sqlite_engine, write(cleared, tmp_path / "b3"), ADMIN, today=TODAY).updated == {"visits": 1}


def test_round_trip_export_import_export_is_identical(databases, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = make_engine(databases.new(backend))
    second = make_engine(databases.new(backend))
    try:
        assert import_bundle(first, write(base(), tmp_path / "b"), ADMIN, today=TODAY).ok
        export_bundle(first, tmp_path / "e1")
        assert import_bundle(second, tmp_path / "e1", ADMIN, today=TODAY).ok
        export_bundle(second, tmp_path / "e2")
    finally:
        first.dispose()
        second.dispose()
    assert files_of(tmp_path / "e1") == files_of(tmp_path / "e2")
    assert sorted(files_of(tmp_path / "e1")) == sorted(spec.file for spec in ENTITIES.values())


def test_export_formats_cells_as_import_expects(sqlite_engine: Engine, tmp_path: Path) -> None:
    import_bundle(sqlite_engine, write(base(), tmp_path / "b"), ADMIN, today=TODAY)
    export_bundle(sqlite_engine, tmp_path / "e")
    visits = (tmp_path / "e" / "visits.csv").read_text(encoding="utf-8").splitlines()
    assert visits == [
        "centre_code,patient_code,visit_date,edss",
        "OSL,P1,2016-01-01,3.0",
        "OSL,P1,2017-01-01,0",
        "UPP,U1,2020-01-01,10",
    ]
    transplants = read_bundle(tmp_path / "e")["transplants"]
    assert transplants[0]["cd34_selection"] == "false" and transplants[1]["cd34_selection"] == ""
    assert read_bundle(tmp_path / "e")["adverse_events"][0]["description"] == 'fever, "treated"'


def test_export_writes_every_file_even_for_an_empty_registry(sqlite_engine: Engine, tmp_path: Path) -> None:
    counts = export_bundle(sqlite_engine, tmp_path / "e")
    assert counts == {e: 0 for e in ENTITIES}
    assert (tmp_path / "e" / "mri.csv").read_text() == (
        "centre_code,patient_code,scan_date,new_t2,gd_enhancing,t2_lesions_total,spinal_cord_involvement,brainstem_involvement\n"
    )
    assert (tmp_path / "e" / "treatments.csv").read_text() == "centre_code,patient_code,drug,start_date,stop_date,stop_reason\n"


@pytest.mark.parametrize("top_folder", ["", "bundle-2026/"], ids=["flat", "in-one-top-folder"])
def test_zip_bundles_are_read_flat_or_from_one_top_folder(sqlite_engine: Engine, tmp_path: Path, top_folder: str) -> None:
    folder = write(base(), tmp_path / "b")
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, top_folder + p.name)
        zf.writestr("__MACOSX/._visits.csv", b"\x00\x05junk")
    result = import_bundle(sqlite_engine, archive, ADMIN, today=TODAY)
    assert result.ok, [str(e) for e in result.errors]
    assert result.inserted["visits"] == 3


def test_a_byte_order_mark_and_crlf_line_ends_are_tolerated(sqlite_engine: Engine, tmp_path: Path) -> None:
    folder = write(base(), tmp_path / "b")
    for p in folder.iterdir():
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes().replace(b"\n", b"\r\n"))
    assert import_bundle(sqlite_engine, folder, ADMIN, today=TODAY).ok


def test_any_file_may_be_absent(sqlite_engine: Engine, tmp_path: Path) -> None:
    bundle = base()
    result = import_bundle(sqlite_engine, write({"centres": bundle["centres"]}, tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok and result.files == ["centres"] and result.inserted == {"centres": 2}


def test_a_missing_path_is_a_clear_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    result = import_bundle(sqlite_engine, tmp_path / "nope", ADMIN)
    assert [str(e) for e in result.errors] == ["nope: (file): no such file or folder"]


def test_read_bundle_refuses_unreadable_files(tmp_path: Path) -> None:
    folder = write(base(), tmp_path / "b")
    (folder / "visits.csv").write_bytes(b"centre_code,patient_code,visit_date\nOSL,P1,2016\xff-01-01\n")
    with pytest.raises(BundleRejected, match=r"visits.csv:2: \(file\): invalid UTF-8"):
        read_bundle(folder)


def test_write_bundle_then_read_bundle_gives_the_text_back(tmp_path: Path) -> None:
    write_bundle({"deaths": base()["deaths"]}, tmp_path / "w")
    assert read_bundle(tmp_path / "w") == {"deaths": base()["deaths"]}


def test_centre_users_may_only_import_their_own_centre(sqlite_engine: Engine, tmp_path: Path) -> None:
    import_bundle(sqlite_engine, write(base(), tmp_path / "seed"), ADMIN, today=TODAY)
    before = snapshot(sqlite_engine, tmp_path / "s1")
    oslo = Actor("oslo-dm", "centre", "OSL")
    with pytest.raises(AccessDenied, match="UPP"):
        import_bundle(sqlite_engine, write(base(), tmp_path / "b"), oslo, today=TODAY)
    own = {"visits": [r for r in base()["visits"] if r["centre_code"] == "OSL"] + [{"centre_code": "OSL", "patient_code": "P2", "visit_date": "2020-01-01", "edss": "1.0"}]}
    assert import_bundle(sqlite_engine, write(own, tmp_path / "own"), oslo, today=TODAY).inserted == {"visits": 1}
    assert snapshot(sqlite_engine, tmp_path / "s2") != before


@pytest.mark.parametrize("role", ["governance", "researcher"])
def test_read_only_roles_may_not_import_or_export(sqlite_engine: Engine, tmp_path: Path, role: str) -> None:
    actor = Actor("someone", role)
    with pytest.raises(AccessDenied):
        import_bundle(sqlite_engine, write(base(), tmp_path / "b"), actor, today=TODAY)
    with pytest.raises(AccessDenied):
        export_bundle(sqlite_engine, tmp_path / "e", actor)


def test_a_centre_user_exports_only_their_centre(sqlite_engine: Engine, tmp_path: Path) -> None:
    import_bundle(sqlite_engine, write(base(), tmp_path / "b"), ADMIN, today=TODAY)
    counts = export_bundle(sqlite_engine, tmp_path / "e", Actor("oslo-dm", "centre", "OSL"))
    assert counts["patients"] == 2 and counts["deaths"] == 0 and counts["centres"] == 1
