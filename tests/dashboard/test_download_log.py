"""Every download from the dashboard is an access event: who, which file, rows, settings, cohort."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from registry.db import make_session_factory
from registry.models import AccessEvent
from tests.dashboard.test_pages import open_page


@pytest.mark.parametrize(("key", "suffix"), [("x_csv", ".csv"), ("x_parquet", ".parquet"), ("x_json", ".json")])
def test_a_download_leaves_an_access_row(app_factory, writable_registry, key: str, suffix: str) -> None:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    at = open_page(app_factory(url, role="researcher"), "export")
    at.sidebar.multiselect(key="f_centres").set_value(["SHF"]).run()
    at.download_button(key=key).click().run()
    assert not at.exception, at.exception
    with make_session_factory(engine)() as s:
        (row,) = s.execute(select(AccessEvent).where(AccessEvent.event == "download")).scalars().all()
    details = json.loads(row.details)
    assert (row.actor, row.role, row.door) == ("no-login:researcher", "researcher", "dashboard")
    assert details["file"].endswith(suffix) and details["rows"] == 25
    assert "SHF" in details["cohort"] and details["settings"]["confirmation_days"] == 182
