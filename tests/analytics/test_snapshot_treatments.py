"""The snapshot reads treatments and the new optional transplant and MRI columns with their
types, on SQLite and PostgreSQL, and the endpoints use them (DMT-free survival, F4 from a
spinal cord lesion, engraftment dates)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine

from analytics.endpoints import derive_endpoints
from analytics.snapshot import clear_snapshot_cache, load_snapshot
from registry import models
from registry.db import session_scope

D0 = dt.date(2019, 3, 1)


def test_snapshot_holds_treatments_haematology_and_lesion_sites(engine: Engine) -> None:
    clear_snapshot_cache()
    with session_scope(engine) as s:
        centre = models.Centre(centre_code="C1", name="c")
        p = models.Patient(centre=centre, patient_code="P1", study_id="S1", sex="F", birth_year=1985,
                           ms_onset_date=dt.date(2012, 1, 1))
        s.add_all([centre, p])
        s.add(models.Transplant(patient=p, transplant_number=1, transplant_date=D0, phenotype="RRMS", baseline_edss=3.0,
                                neutrophil_engraftment_date=D0 + dt.timedelta(days=10), hospital_days=21, atg_given=True,
                                cd34_dose=5.25))
        s.add(models.MriScan(patient=p, scan_date=D0 - dt.timedelta(days=40), gd_enhancing=0, t2_lesions_total=30,
                             spinal_cord_involvement=True, brainstem_involvement=None))
        s.add(models.Treatment(patient=p, drug="NATALIZUMAB", start_date=dt.date(2016, 1, 1), stop_date=D0 - dt.timedelta(days=60),
                               stop_reason="AHSCT"))
        s.add(models.Treatment(patient=p, drug="OCRELIZUMAB", start_date=D0 + dt.timedelta(days=800)))
    snap = load_snapshot(engine)
    tx = snap.table("transplants").iloc[0]
    assert (pd.Timestamp(tx["neutrophil_engraftment_date"]).date(), tx["hospital_days"], bool(tx["atg_given"]), tx["cd34_dose"]) == (
        D0 + dt.timedelta(days=10), 21, True, 5.25)
    mri = snap.table("mri_scans").iloc[0]
    assert (mri["t2_lesions_total"], bool(mri["spinal_cord_involvement"])) == (30, True)
    treatments = snap.table("treatments").sort_values("start_date")
    assert list(treatments["drug"]) == ["NATALIZUMAB", "OCRELIZUMAB"] and treatments["stop_date"].isna().tolist() == [False, True]
    row = derive_endpoints(snap).iloc[0]
    assert (row["dmt_free_days"], row["dmt_free_event"], row["f4_mri_activity"], row["os_days"]) == (800, 1, 1, 800)
