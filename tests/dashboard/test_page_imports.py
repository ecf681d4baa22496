"""Pages load the heavy statistics libraries only when they use them: the login form imports
neither lifelines nor scipy, checked in a fresh interpreter's `sys.modules`.

The Overview does load lifelines: its headline Kaplan–Meier estimates go through lifelines'
KaplanMeierFitter (the design's choice, checked against R), so the server's start-up warm-up
(dashboard.warmup) imports it before the first login instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, sys
from streamlit.testing.v1 import AppTest
page = sys.argv[1]
at = AppTest.from_file(os.path.join(sys.argv[2], "dashboard", "app.py"), default_timeout=120)
at.run()
if page != "login":
    at.switch_page(f"app_pages/{page}.py").run()
assert not at.exception, at.exception
print("MODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _modules(url: str, page: str, *, login: bool) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSREG_DASHBOARD_NO_LOGIN")}
    env["MSREG_DATABASE_URL"] = url
    if not login:
        env["MSREG_DASHBOARD_NO_LOGIN"] = "1"
    out = subprocess.run([sys.executable, "-c", PROBE, page, str(ROOT)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    line = next((x for x in out.stdout.splitlines() if x.startswith("MODULES=")), None)
    assert line, out.stderr[-2000:]
    return set(json.loads(line.removeprefix("MODULES=")))


@pytest.mark.parametrize(("page", "login"), [("login", True)])
def test_the_login_form_does_not_load_lifelines_or_scipy(small_registry_url: str, page: str, login: bool) -> None:
    modules = _modules(small_registry_url, page, login=login)
    assert "streamlit" in modules
    assert not modules & {"lifelines", "scipy"}, sorted(modules & {"lifelines", "scipy"})


def test_the_safety_page_does_load_scipy_for_its_funnels(small_registry_url: str) -> None:
    """The check above can fail: a page that needs scipy loads it."""
    assert "scipy" in _modules(small_registry_url, "safety", login=False)
