"""The research export is k-anonymous by default; the full-detail export is for administrators
with a reason, and audited; bad k writes nothing.

Registries are built with `msreg demo` (the synthetic cohort users see) at 800 and 1,500
patients, and exported through the real CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from registry.cli import main
from registry.db import make_engine, session_scope
from registry.security.k_anonymity import QUASI_IDENTIFIERS, KAnonymityError, anonymise, group_sizes
from registry.models import AuditEntry, Patient, RegistrySetting


def _run(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", url, *args], catch_exceptions=False)


def _msreg(url: str, *args: str) -> str:
    result = _run(url, *args)
    assert result.exit_code == 0, result.output
    return result.output


def _registry(tmp_path_factory: pytest.TempPathFactory, template: Path, patients: int) -> str:
    folder = tmp_path_factory.mktemp(f"kanon{patients}")
    shutil.copyfile(template, folder / "registry.db")
    url = f"sqlite:///{folder / 'registry.db'}"
    _msreg(url, "demo", "--patients", str(patients), "--no-progress")
    return url


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    return _registry(tmp_path_factory, sqlite_template, 800)


@pytest.fixture(scope="module")
def cohort_1500_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    return _registry(tmp_path_factory, sqlite_template, 1500)


def _quasi_identifiers(frame: pd.DataFrame) -> list[str]:
    return [c for c in QUASI_IDENTIFIERS if c in frame.columns]


def _smallest_group(frame: pd.DataFrame) -> int:
    return int(group_sizes(frame, _quasi_identifiers(frame)).min())


def _patients(url: str) -> int:
    engine = make_engine(url)
    with session_scope(engine) as s:
        n = len(s.execute(select(Patient.id)).all())
    engine.dispose()
    return n


@pytest.mark.parametrize("fixture", ["demo_url", "cohort_1500_url"])
def test_default_export_has_no_group_below_5_and_keeps_every_patient(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(fixture)
    _msreg(url, "export", "survival", str(tmp_path / "out.csv"))
    frame = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert _quasi_identifiers(frame) == ["centre_code", "sex", "age_at_transplant", "transplant_year", "phenotype"]
    assert _smallest_group(frame) >= 5
    assert len(frame) == _patients(url), "no patient is dropped"
    side = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    d = side["disclosure"]
    assert d["k"] == 5 and d["smallest_group"] >= 5
    assert d["generalisations"], "the demo cannot be 5-anonymous ungeneralised"
    assert set(d["blanked_values"]) == set(_quasi_identifiers(frame))
    blanks = {c: int(frame[c].isna().sum()) for c in _quasi_identifiers(frame)}
    assert blanks == d["blanked_values"], "the sidecar counts exactly the blanked cells"


def test_k_option_raises_the_group_size(demo_url: str, tmp_path: Path) -> None:
    _msreg(demo_url, "export", "survival", str(tmp_path / "k10.parquet"), "--k", "10")
    frame = pd.read_parquet(tmp_path / "k10.parquet").astype(object)
    assert _smallest_group(frame) >= 10
    assert json.loads((tmp_path / "k10.json").read_text(encoding="utf-8"))["disclosure"]["k"] == 10


@pytest.mark.parametrize(("k", "message"), [("1", "at least 2"), ("0", "at least 2"), ("100000", "fewer than k")])
def test_bad_k_gets_a_clear_message_and_writes_nothing(demo_url: str, tmp_path: Path, k: str, message: str) -> None:
    result = _run(demo_url, "export", "survival", str(tmp_path / "out.csv"), "--k", k)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_study_ids_are_per_export_unless_the_registry_has_stable_ids(demo_url: str, tmp_path: Path) -> None:
    engine = make_engine(demo_url)
    with session_scope(engine) as s:
        registry_ids = set(s.execute(select(Patient.study_id)).scalars())
    _msreg(demo_url, "export", "survival", str(tmp_path / "a.csv"))
    ids = set(pd.read_csv(tmp_path / "a.csv")["study_id"])
    assert not ids & registry_ids
    assert "per export" in json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["disclosure"]["study_ids"]
    try:
        with session_scope(engine) as s:
            s.add(RegistrySetting(key="stable_study_ids", value="true"))
        _msreg(demo_url, "export", "survival", str(tmp_path / "b.csv"))
        assert set(pd.read_csv(tmp_path / "b.csv")["study_id"]) == registry_ids
        assert "stable" in json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["disclosure"]["study_ids"]
    finally:
        with session_scope(engine) as s:
            s.delete(s.get(RegistrySetting, "stable_study_ids"))
        engine.dispose()


def _audit_rows(url: str) -> list[AuditEntry]:
    engine = make_engine(url)
    with session_scope(engine) as s:
        rows = list(s.execute(select(AuditEntry).where(AuditEntry.entity == "survival_exports")).scalars())
        s.expunge_all()
    engine.dispose()
    return rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--full-detail"], "needs --reason"),
        (["--full-detail", "--reason", "  "], "needs --reason"),
        (["--full-detail", "--reason", "cohort study", "--as", "demo-researcher"], "administrators only"),
        (["--as", "demo-governance"], "aggregates only"),
        (["--as", "nobody"], "no account named 'nobody'"),
    ],
)
def test_full_detail_needs_an_administrator_and_a_reason(demo_url: str, tmp_path: Path, args: list[str], message: str) -> None:
    before = len(_audit_rows(demo_url))
    result = _run(demo_url, "export", "survival", str(tmp_path / "out.csv"), *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert list(tmp_path.iterdir()) == []
    assert len(_audit_rows(demo_url)) == before


def test_full_detail_by_an_administrator_is_ungeneralised_and_audited(demo_url: str, tmp_path: Path) -> None:
    before = len(_audit_rows(demo_url))
    _msreg(demo_url, "export", "survival", str(tmp_path / "full.csv"), "--full-detail", "--reason", "ethics approval 2026/17")
    frame = pd.read_csv(tmp_path / "full.csv")
    assert pd.api.types.is_integer_dtype(frame["age_at_transplant"].dropna()), "ages are not banded"
    assert pd.api.types.is_integer_dtype(frame["transplant_year"]), "years are not periods"
    assert "full detail" in json.loads((tmp_path / "full.json").read_text(encoding="utf-8"))["disclosure"]["mode"]
    rows = _audit_rows(demo_url)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row.reason == "ethics approval 2026/17" and row.role == "admin" and row.action == "INSERT"
    assert json.loads(row.new_values)["rows"] == len(frame) and "full.csv" in row.entity_key
    _msreg(demo_url, "audit", "verify")  # the hash chain still verifies (exit 0)


def test_a_researcher_gets_the_k_anonymous_export(demo_url: str, tmp_path: Path) -> None:
    _msreg(demo_url, "export", "survival", str(tmp_path / "r.csv"), "--as", "demo-researcher")
    assert _smallest_group(pd.read_csv(tmp_path / "r.csv", dtype=str)) >= 5


frames = st.integers(5, 80).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(["A", "B", "C", "D", "E", "F"]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["F", "M", "U", None]), min_size=n, max_size=n),
        st.lists(st.one_of(st.none(), st.integers(18, 90)), min_size=n, max_size=n),
        st.lists(st.integers(1995, 2026), min_size=n, max_size=n),
        st.lists(st.sampled_from(["RRMS", "SPMS", "PPMS"]), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.integers(2, 6))
def test_anonymise_reaches_k_keeps_every_row_and_touches_only_quasi_identifiers(columns: tuple, k: int) -> None:  # type: ignore[type-arg]
    centre, sex, age, year, phenotype = columns
    frame = pd.DataFrame({"study_id": [f"S{i}" for i in range(len(centre))], "centre_code": centre, "sex": sex,
                          "age_at_transplant": age, "transplant_year": year, "phenotype": phenotype,
                          "os_days": np.arange(len(centre))})
    if len(frame) < k:
        with pytest.raises(KAnonymityError):
            anonymise(frame, k)
        return
    try:
        out, report = anonymise(frame, k)
    except KAnonymityError as exc:
        assert "blanking every value" in str(exc)
        return
    assert len(out) == len(frame) and out["study_id"].tolist() == frame["study_id"].tolist()
    assert out["os_days"].tolist() == frame["os_days"].tolist()
    assert int(group_sizes(out, _quasi_identifiers(out)).min()) >= k
    assert report.smallest_group >= k


@pytest.mark.parametrize("k", [1, 0, -3])
def test_anonymise_refuses_k_below_2(k: int) -> None:
    with pytest.raises(KAnonymityError, match="at least 2"):
        anonymise(pd.DataFrame({"sex": ["F"] * 10}), k)


def test_survival_as_governance_prints_released_counts_only(demo_url: str) -> None:
    import io

    exact = pd.read_csv(io.StringIO(_run(demo_url, "survival", "os", "--by", "centre_code", "--at", "365,1825").stdout))
    result = _run(demo_url, "survival", "os", "--by", "centre_code", "--at", "365,1825", "--as", "demo-governance")
    assert result.exit_code == 0, result.output
    counts = ("n_risk", "n_event", "n_censor")
    released = pd.read_csv(io.StringIO(result.stdout), dtype=dict.fromkeys(counts, str))
    for column in counts:
        assert not set(released[column].dropna()) & {"1", "2", "3", "4"}, column
        assert all(v == "<5" or v == "0" or int(v) % 5 == 0 for v in released[column].dropna()), column
    assert (released["n_event"] == "<5").any(), "the demo has centres with 1-4 deaths in a year"
    assert released["estimate"].isna().sum() > exact["estimate"].isna().sum(), "estimates resting on 1-4 deaths left out"
    assert (released["std_err"].isna() == released["estimate"].isna()).all(), "no standard error beside a hidden estimate"
