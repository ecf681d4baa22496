"""Treatment-free remission (DMT-free survival, treatment-free NEDA-3) and the aggressive-MS
profile at transplant (F1-F4), as docs/endpoints.md defines them: hand-built edges, then the SQL
against a naive per-patient reading of the definitions (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from analytics.endpoints import AGGRESSIVE_FEATURES
from analytics.settings import EndpointSettings
from tests.analytics.test_endpoints import assert_derived_equal_naive, check, d, endpoints_of, followed_patient, naive_times

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "a DMT started on day 0 is not post-transplant",
        dict(treatments=[("RITUXIMAB", 0, None)], visits={200: 3.0}, last_contact_days=400),
        dict(dmt_free_days=400, dmt_free_event=0, tf_neda_days=400, tf_neda_event=0, post_dmt_date=None),
    ),
    (
        "an ongoing pre-transplant DMT is not post-transplant",
        dict(treatments=[("NATALIZUMAB", -900, None)], last_contact_days=300),
        dict(dmt_free_days=300, dmt_free_event=0),
    ),
    (
        "a DMT started on day 1 ends DMT-free survival on day 1",
        dict(treatments=[("OCRELIZUMAB", 1, None)], last_contact_days=300),
        dict(dmt_free_days=1, dmt_free_event=1, tf_neda_days=1, tf_neda_event=1, post_dmt_date=d(1)),
    ),
    (
        "DMT restart before any disease activity ends treatment-free NEDA-3 at the restart",
        dict(treatments=[("OCRELIZUMAB", 500, None)], relapses=(800,), last_contact_days=1000),
        dict(tf_neda_days=500, tf_neda_event=1, neda_days=800, neda_event=1, dmt_free_days=500, rfs_days=800),
    ),
    (
        "disease activity before a DMT restart ends treatment-free NEDA-3 at the activity",
        dict(treatments=[("OCRELIZUMAB", 500, None)], relapses=(300,), last_contact_days=1000),
        dict(tf_neda_days=300, tf_neda_event=1, dmt_free_days=500, dmt_free_event=1),
    ),
    (
        "the first of several post-transplant DMTs counts",
        dict(treatments=[("RITUXIMAB", 900, 1000), ("NATALIZUMAB", 600, 800), ("INTERFERON_BETA", -2000, -100)],
             last_contact_days=1100),
        dict(dmt_free_days=600, dmt_free_event=1, post_dmt_date=d(600)),
    ),
    (
        "no baseline EDSS: tf_neda empty, dmt_free defined",
        dict(baseline_edss=None, treatments=[("RITUXIMAB", 400, None)], last_contact_days=600),
        dict(tf_neda_days=None, tf_neda_event=None, neda_days=None, dmt_free_days=400, dmt_free_event=1),
    ),
    (
        "death without a DMT is an event of both",
        dict(death=(700, "MS"), visits={100: 3.0}),
        dict(dmt_free_days=700, dmt_free_event=1, tf_neda_days=700, tf_neda_event=1),
    ),
    (
        "treatment start and stop dates count as contacts",
        dict(treatments=[("RITUXIMAB", 300, 900)], visits={100: 3.0}),
        dict(lc_date=d(900), os_days=900, rfs_days=900, dmt_free_days=300),
    ),
    (
        "a treatment start after every other record is the last contact",
        dict(treatments=[("RITUXIMAB", 1200, None)], last_contact_days=1000),
        dict(lc_date=d(1200), os_days=1200, dmt_free_days=1200, dmt_free_event=1),
    ),
]


@pytest.mark.parametrize(("patient", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_treatment_free_endpoints_on_hand_built_patients(patient: dict[str, Any], expected: dict[str, Any]) -> None:
    check(endpoints_of(**patient), expected)


NONE = dict(relapses_12m=0, relapses_24m=0, gd_lesions_baseline=0, baseline_edss=2.0)
PROFILE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("nothing shown", NONE, dict(f1_frequent_relapses=0, f2_incomplete_recovery=0, f3_rapid_disability=0, f4_mri_activity=0,
                                 aggressive_factors=0, f1_frequent_relapses_no_data=0, f4_mri_activity_no_data=0)),
    ("F1 from relapses_24m", NONE | dict(relapses_24m=2), dict(f1_frequent_relapses=1, aggressive_factors=1)),
    ("F1 from two relapse records, the window's ends included", NONE | dict(relapses_24m=None, relapses=(-730, 0)),
     dict(f1_frequent_relapses=1, f1_frequent_relapses_no_data=0)),
    ("F1: a relapse 731 days before is outside", NONE | dict(relapses_24m=None, relapses=(-731, -10)),
     dict(f1_frequent_relapses=0, f1_frequent_relapses_no_data=1)),
    ("F1: one relapse record and relapses_24m 1", NONE | dict(relapses_24m=1, relapses=(-10,)),
     dict(f1_frequent_relapses=0, f1_frequent_relapses_no_data=0)),
    ("F2 partial recovery before day 0", NONE | dict(relapses=(-100,), recovery={-100: "PARTIAL"}),
     dict(f2_incomplete_recovery=1, f2_incomplete_recovery_no_data=0)),
    ("F2 no recovery on day 0", NONE | dict(relapses=(0,), recovery={0: "NONE"}), dict(f2_incomplete_recovery=1)),
    ("F2: a post-transplant relapse does not count", NONE | dict(relapses=(100,), recovery={100: "NONE"}),
     dict(f2_incomplete_recovery=0, f2_incomplete_recovery_no_data=1)),
    ("F2: complete recovery is assessed and not shown", NONE | dict(relapses=(-100,), recovery={-100: "COMPLETE"}),
     dict(f2_incomplete_recovery=0, f2_incomplete_recovery_no_data=0)),
    ("F2: recovery UNKNOWN is no data", NONE | dict(relapses=(-100,), recovery={-100: "UNKNOWN"}),
     dict(f2_incomplete_recovery=0, f2_incomplete_recovery_no_data=1)),
    ("F3 without an onset date is 0", NONE | dict(onset_days=None, baseline_edss=6.0),
     dict(f3_rapid_disability=0, f3_rapid_disability_no_data=1)),
    ("F3 from the transplant's baseline dated day 0", NONE | dict(onset_days=-1000, baseline_edss=4.0),
     dict(f3_rapid_disability=1, aggressive_factors=1)),
    ("F3: baseline dated 1826 days after onset counts", NONE | dict(onset_days=-2000, baseline_edss=4.5, baseline_edss_date_days=-174),
     dict(f3_rapid_disability=1)),
    ("F3: baseline 1827 days after onset does not", NONE | dict(onset_days=-2000, baseline_edss=4.5, baseline_edss_date_days=-173),
     dict(f3_rapid_disability=0, f3_rapid_disability_no_data=1)),
    ("F3 from a visit within 5 years of onset", NONE | dict(onset_days=-3000, visits={-1500: 4.0}),
     dict(f3_rapid_disability=1)),
    ("F3: a post-transplant visit does not count", NONE | dict(onset_days=-1000, visits={10: 6.0}),
     dict(f3_rapid_disability=0, f3_rapid_disability_no_data=0)),
    ("F3: EDSS 3.5 in the window is assessed, not shown", NONE | dict(onset_days=-1000, baseline_edss=3.5),
     dict(f3_rapid_disability=0, f3_rapid_disability_no_data=0)),
    ("F4 from gd_lesions_baseline", NONE | dict(gd_lesions_baseline=2), dict(f4_mri_activity=1)),
    ("F4 from a scan 365 days before", NONE | dict(mri=[(-365, 0, 2)]), dict(f4_mri_activity=1)),
    ("F4: a scan 366 days before is outside", NONE | dict(gd_lesions_baseline=None, mri=[(-366, 0, 5)]),
     dict(f4_mri_activity=0, f4_mri_activity_no_data=1)),
    ("F4 from spinal cord involvement", NONE | dict(mri=[(-30, 0, 0)], mri_sites={-30: (True, None)}), dict(f4_mri_activity=1)),
    ("F4 from brainstem involvement", NONE | dict(mri=[(-30, None, None)], mri_sites={-30: (None, True)}), dict(f4_mri_activity=1)),
    ("F4: missing MRI data is not present", NONE | dict(gd_lesions_baseline=None, mri=[(-30, None, None)]),
     dict(f4_mri_activity=0, f4_mri_activity_no_data=1)),
    ("all four", dict(relapses_24m=3, relapses=(-50,), recovery={-50: "PARTIAL"}, onset_days=-1200, baseline_edss=5.0,
                      gd_lesions_baseline=4), dict(aggressive_factors=4)),
]


@pytest.mark.parametrize(("patient", "expected"), [c[1:] for c in PROFILE_CASES], ids=[c[0] for c in PROFILE_CASES])
def test_aggressive_profile_on_hand_built_patients(patient: dict[str, Any], expected: dict[str, Any]) -> None:
    check(endpoints_of(**patient), expected)


# ------------------------------------------------------------------------------------------
# Against a naive reading

DRUGS = ("RITUXIMAB", "NATALIZUMAB", "OCRELIZUMAB")
RECOVERY = (None, "COMPLETE", "PARTIAL", "NONE", "UNKNOWN")


@st.composite
def profiled_patient(draw: st.DrawFn) -> dict[str, Any]:
    """A followed patient (tests/analytics/test_endpoints.py) with DMT periods, pre-transplant
    relapses with recovery, pre-transplant scans with lesion sites and the profile fields."""
    patient = draw(followed_patient())
    end = patient["death"][0] if patient.get("death") else 1400
    pre = draw(st.lists(st.integers(-800, 0), max_size=3, unique=True))
    patient["relapses"] = tuple(sorted(set(patient["relapses"]) | set(pre)))
    patient["recovery"] = {r: draw(st.sampled_from(RECOVERY)) for r in patient["relapses"]}
    scans = draw(st.lists(st.integers(-500, 0), max_size=2, unique=True))
    patient["mri"] = [*patient["mri"], *((s, None, draw(st.sampled_from([None, 0, 1, 2, 3]))) for s in scans)]
    patient["mri_sites"] = {s: (draw(st.sampled_from([None, False, True])), draw(st.sampled_from([None, False, True])))
                            for s, *_ in patient["mri"]}
    patient["relapses_24m"] = draw(st.one_of(st.none(), st.integers(0, 3)))
    patient["gd_lesions_baseline"] = draw(st.one_of(st.none(), st.integers(0, 3)))
    patient["onset_days"] = draw(st.one_of(st.none(), st.integers(-3000, -60)))
    patient["baseline_edss_date_days"] = draw(st.one_of(st.none(), st.integers(-60, 0)))
    treatments = []
    for drug in draw(st.lists(st.sampled_from(DRUGS), max_size=3, unique=True)):
        start = draw(st.integers(-1500, end))
        stop = draw(st.one_of(st.none(), st.integers(start, end)))
        treatments.append((drug, start, stop))
    patient["treatments"] = treatments
    return patient


def naive_reading(patient: dict[str, Any], settings: EndpointSettings) -> dict[str, Any]:
    """dmt_free, tf_neda and F1-F4 read straight from docs/endpoints.md (days since day 0)."""
    times = naive_times(patient, settings)
    death = patient["death"][0] if patient.get("death") else None
    treatment_days = [t[1] for t in patient["treatments"]] + [t[2] for t in patient["treatments"] if t[2] is not None]
    lc = max([times["os_days"] if death is None else death, *treatment_days])
    post = min((t[1] for t in patient["treatments"] if t[1] > 0), default=None)

    def first(*days: int | None) -> int | None:
        present = [x for x in days if x is not None]
        return min(present) if present else None

    out: dict[str, Any] = {}
    end = first(post, death)
    out["dmt_free_days"] = end if end is not None else lc
    out["dmt_free_event"] = int(end is not None)
    out["tf_neda_days"] = out["tf_neda_event"] = None
    if times["neda_days"] is not None:
        neda_end = times["neda_days"] if times["neda_event"] == 1 else None  # EDA or death
        tf_end = first(neda_end, post)
        out["tf_neda_days"] = tf_end if tf_end is not None else lc
        out["tf_neda_event"] = int(tf_end is not None)

    relapses = patient["relapses"]
    recovery = patient["recovery"]
    r24 = patient["relapses_24m"]
    in_window = sum(1 for r in relapses if -730 <= r <= 0)
    f1 = (r24 is not None and r24 >= 2) or in_window >= 2
    out["f1_frequent_relapses"], out["f1_frequent_relapses_no_data"] = int(f1), int(r24 is None and in_window < 2)
    before = [recovery.get(r) for r in relapses if r <= 0]
    out["f2_incomplete_recovery"] = int(any(v in ("PARTIAL", "NONE") for v in before))
    out["f2_incomplete_recovery_no_data"] = int(not any(v in ("COMPLETE", "PARTIAL", "NONE") for v in before))
    onset = patient["onset_days"]
    edss = [(day, e) for day, e in patient["visits"].items() if e is not None and day <= 0]
    if patient["baseline_edss"] is not None:
        edss.append((patient["baseline_edss_date_days"] or 0, patient["baseline_edss"]))
    window = [e for day, e in edss if onset is not None and 0 <= day - onset <= 1826 and day <= 0]
    out["f3_rapid_disability"], out["f3_rapid_disability_no_data"] = int(any(e >= 4.0 for e in window)), int(not window)
    gd0 = patient["gd_lesions_baseline"]
    sites = patient["mri_sites"]
    scans = [(gd, *sites.get(day, (None, None))) for day, _new, gd in patient["mri"] if -365 <= day <= 0]
    f4 = (gd0 is not None and gd0 >= 2) or any((gd or 0) >= 2 or bool(sc) or bool(bs) for gd, sc, bs in scans)
    out["f4_mri_activity"] = int(f4)
    out["f4_mri_activity_no_data"] = int(gd0 is None and not any(v is not None for scan in scans for v in scan))
    out["aggressive_factors"] = sum(out[f] for f in AGGRESSIVE_FEATURES)
    return out


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients=st.lists(profiled_patient(), min_size=1, max_size=6))
def test_treatment_free_endpoints_and_profile_equal_a_naive_reading(patients: list[dict[str, Any]]) -> None:
    assert_derived_equal_naive(patients, naive_reading)
