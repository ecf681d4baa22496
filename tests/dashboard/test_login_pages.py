"""Every page of the dashboard, for every role, after a real login (no bypass switch).

Each role logs in through the form with a registry account, then opens every page it is
offered. Asserted: the page renders without error; pages a role may not use are not offered;
a centre user sees no other centre and no other centre's patients anywhere on any page
(text, tables, charts, widget options); governance and researcher users see no patient code
and no calendar date of a patient.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import login
from registry.security import auth
from registry.security.access import Actor
from registry.db import make_engine, session_scope
from tests.dashboard.cohort import CENTRES
from tests.security.hashing import CHEAP_HASHER, cheap_argon2  # noqa: F401 - autouse
from tests.registry_files import copy_registry

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PASSWORD = "page matrix password"
ROLES = {
    "admin": ("admin", None),
    "governance": ("governance", None),
    "researcher": ("researcher", None),
    "centre-osl": ("centre", "OSL"),
    "centre-tny": ("centre", "TNY"),
}
PAGES = ("overview", "outcomes", "safety", "quality", "timeline", "patient", "entry", "export")
WRITERS = {"admin", "centre-osl", "centre-tny"}
CENTRE_CODES = [c[0] for c in CENTRES]
PATIENT_CODE = re.compile(r"\b(" + "|".join(CENTRE_CODES) + r")-\d{3}\b")
ISO_DATE = re.compile(r"(?<!\d)(19|20)\d{2}-\d{2}-\d{2}(?!\d)")
DATA_AS_OF = re.compile(r"Data as of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")  # the sidebar's clock, not a patient's


@pytest.fixture(scope="module")
def accounts_url(small_registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dashboard tests' small registry, with one account per role."""
    path = tmp_path_factory.mktemp("accounts") / "registry.db"
    copy_registry(Path(small_registry_url.removeprefix("sqlite:///")), path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with auth.use_hasher(CHEAP_HASHER), session_scope(engine) as s:
        for username, (role, centre) in ROLES.items():
            auth.add_user(s, Actor("setup", "admin"), username, role, centre, PASSWORD)
    engine.dispose()
    return url


def logged_in(url: str, username: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MSREG_DATABASE_URL", url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    monkeypatch.delenv(login.NO_LOGIN_AS_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert at.text_input(key="msreg_login_username") is not None, "the login form comes first"
    at.text_input(key="msreg_login_username").input(username)
    at.text_input(key="msreg_login_password").input(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def everything_shown(at: AppTest) -> str:
    """All text an actor can see or pick: text elements, tables, charts, widget options."""
    parts: list[str] = []
    for kind in ("markdown", "title", "header", "subheader", "caption", "text", "info", "warning", "error", "success", "code"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.value.to_csv() for e in at.dataframe]
    parts += [e.value.to_csv() if hasattr(e.value, "to_csv") else str(e.value) for e in at.table]
    parts += [json.dumps(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]
    for kind in ("selectbox", "multiselect", "radio"):
        parts += [" ".join(map(str, w.options)) for w in at.get(kind)]
    return "\n".join(parts)


@pytest.mark.parametrize("username", list(ROLES))
def test_every_page_for_every_role(accounts_url: str, username: str, monkeypatch: pytest.MonkeyPatch) -> None:
    role, centre = ROLES[username]
    at = logged_in(accounts_url, username, monkeypatch)
    assert at.session_state[login.ACTOR_KEY] == Actor(username, role, centre)
    seen: set[str] = set()
    for page in PAGES:
        if page == "entry" and username not in WRITERS:
            with pytest.raises(Exception):
                at.switch_page(f"app_pages/{page}.py").run()
            continue
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        shown = everything_shown(at)
        codes = set(PATIENT_CODE.findall(shown))
        seen |= codes
        if role == "centre":
            assert codes <= {centre}, f"{username} sees patients of {codes - {centre}} on {page}"
            others = [c for c in CENTRE_CODES if c != centre and re.search(rf"\b{c}\b", shown)]
            assert others == [], f"{username} sees centre(s) {others} on {page}"
        elif role in ("governance", "researcher"):
            assert codes == set(), f"{username} sees patient codes on {page}"
            dates = [m.group(0) for m in ISO_DATE.finditer(DATA_AS_OF.sub("", shown))]
            assert dates == [], f"{username} sees calendar dates on {page}: {dates[:3]}"
    # The scan is not blind: those who may see patient codes do see them somewhere.
    if role == "admin":
        assert len(seen) >= 2
    if role == "centre":
        assert seen == {centre}


@pytest.mark.parametrize("username", list(ROLES))
def test_the_export_download_holds_only_the_users_scope(accounts_url: str, username: str) -> None:
    """The download buttons' content is not an element AppTest can read: check the files the
    export page offers, built the way the page builds them."""
    import io

    import pandas as pd

    from analytics.settings import EndpointSettings
    from dashboard import data
    from dashboard.context import Filters

    from registry.security.access import AccessDenied
    from registry.security.k_anonymity import OTHER_CENTRES

    role, centre = ROLES[username]
    actor = Actor(username, role, centre)
    args = (accounts_url, data.scope_key(actor), data.data_version(accounts_url),
            data.settings_key(EndpointSettings()), Filters().key(), Filters().describe())
    if role == "governance":  # aggregates only: no row-level download at all
        with pytest.raises(AccessDenied):
            data.survival_export_files(*args)
        return
    if centre == "TNY":  # three patients: k = 5 cannot be reached, and nothing is offered
        from analytics.survival_export import ExportError

        with pytest.raises(ExportError, match="fewer than k"):
            data.survival_export_files(*args)
        return
    csv_bytes, parquet_bytes, meta = data.survival_export_files(*args)
    frame = pd.read_csv(io.BytesIO(csv_bytes))
    expected = {centre} if centre else set(CENTRE_CODES)
    # Centres may be pooled or blanked for k-anonymity, never replaced by another centre.
    assert set(frame["centre_code"].dropna()) <= expected | {OTHER_CENTRES}
    assert len(frame) == len(data.endpoints(accounts_url, data.scope_key(actor), data.data_version(accounts_url),
                                            data.settings_key(EndpointSettings())))
    assert set(pd.read_parquet(io.BytesIO(parquet_bytes))["centre_code"].dropna()) <= expected | {OTHER_CENTRES}
    assert meta["rows"] == len(frame)
    assert not PATIENT_CODE.search(csv_bytes.decode("utf-8"))
