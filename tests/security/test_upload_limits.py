"""Uploads cannot exhaust the server: a zipped bundle that would unpack beyond the limit is
refused before anything is inflated (the dashboard also caps the upload at 50 MB)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine

from registry.io import bundle
from registry.security.access import Actor


def _zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("visits.csv", "centre_code,patient_code,visit_date,edss\n" + "," * (size - 41))
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_UNZIPPED_BYTES", 10_000)
    small_upload = _zip(tmp_path / "bomb.zip", 200_000)
    assert small_upload.stat().st_size < 2_000, "the upload itself is tiny"
    result = bundle.import_bundle(sqlite_engine, small_upload, Actor("adm", "admin"))
    assert [e.message for e in result.errors] == ["the zip unpacks to 200,000 bytes, more than the limit of 10,000"]


def test_a_zip_within_the_limit_is_read(sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_UNZIPPED_BYTES", 10_000)
    path = tmp_path / "ok.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("centres.csv", "centre_code,name\nAAA,Centre A\n")
    result = bundle.import_bundle(sqlite_engine, path, Actor("adm", "admin"))
    assert result.errors == [] and result.inserted == {"centres": 1}
