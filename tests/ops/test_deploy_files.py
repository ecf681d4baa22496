"""The deployment files in deploy/ work as docs/deploy.md says.

- the systemd units pass `systemd-analyze verify` (in a scratch root, since the machine running
  the tests has no /opt/msreg);
- the units, the health probe and the nginx upstream agree on the dashboard's port;
- the nginx configuration passes `nginx -t`, and a real nginx with it serves a real dashboard
  over TLS to headless Chromium (the websocket upgrade and Streamlit's XSRF/CORS checks behind
  the proxy): the login form appears;
- the backup script makes a 0600 backup that verifies and prunes by age, keeping the newest.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MSREG = str(Path(sys.executable).with_name("msreg"))
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long pass phrase for the proxy test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _needs(tool: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if found is None:
        pytest.skip(f"{tool} is not installed")
    return found


def test_there_are_units_for_the_dashboard_its_health_probe_and_the_backup() -> None:
    names = {u.name for u in UNITS}
    assert {"msreg-dashboard.service", "msreg-health.service", "msreg-health.timer", "msreg-backup.service",
            "msreg-backup.timer", "msreg-dashboard-restart.service"} <= names


def test_systemd_units_verify(tmp_path) -> None:
    analyze = _needs("systemd-analyze")
    system_units = Path("/usr/lib/systemd/system")
    if not system_units.is_dir():
        pytest.skip("no /usr/lib/systemd/system to verify against")
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    # The executables the units name, as the guide installs them.
    for exe in ("opt/msreg/venv/bin/msreg", "opt/msreg/src/deploy/msreg-backup.sh", "usr/bin/systemctl"):
        path = root / exe
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    result = subprocess.run([analyze, "verify", f"--root={root}", *(str(root / "etc/systemd/system" / u.name) for u in UNITS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_the_dashboard_unit_restarts_on_failure_as_a_non_root_user_with_private_files() -> None:
    unit = (DEPLOY / "msreg-dashboard.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert settings["Restart"] == "on-failure"
    assert settings["User"] not in ("", "root", "0")
    assert settings["UMask"] == "0077"
    assert settings["NoNewPrivileges"] == "yes" and settings["ProtectSystem"] == "strict"


def test_the_units_the_health_probe_and_the_proxy_agree_on_the_port() -> None:
    dashboard = (DEPLOY / "msreg-dashboard.service").read_text()
    health = (DEPLOY / "msreg-health.service").read_text()
    nginx = (DEPLOY / "nginx-msreg.conf").read_text()
    ports = {
        "ExecStart": re.search(r"^ExecStart=.*msreg dashboard .*--port (\d+)", dashboard, re.M).group(1),
        "ExecStartPost": re.search(r"^ExecStartPost=.*msreg health .*--port (\d+)", dashboard, re.M).group(1),
        "health timer": re.search(r"^ExecStart=.*msreg health .*--port (\d+)", health, re.M).group(1),
        "nginx upstream": re.search(r"server 127\.0\.0\.1:(\d+);", nginx).group(1),
    }
    assert len(set(ports.values())) == 1, ports
    assert "--address 127.0.0.1" in dashboard


def test_the_proxy_allows_uploads_as_large_as_the_dashboard_does() -> None:
    import tomllib

    config = tomllib.loads((REPO / "dashboard" / ".streamlit" / "config.toml").read_text())
    nginx = (DEPLOY / "nginx-msreg.conf").read_text()
    assert f"client_max_body_size {config['server']['maxUploadSize']}m;" in nginx


# --------------------------------------------------------------------------------------------
# nginx, for real.
# --------------------------------------------------------------------------------------------


def _nginx_setup(tmp_path: Path, *, https_port: int, http_port: int, upstream_port: int) -> Path:
    """The repository's nginx-msreg.conf with a self-signed certificate and scratch ports/paths."""
    openssl = _needs("openssl")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "privkey.pem"),
                    "-out", str(tmp_path / "fullchain.pem"), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx-msreg.conf").read_text()
    site = site.replace("/etc/ssl/msreg/", f"{tmp_path}/")
    site = site.replace("listen 443 ", f"listen {https_port} ").replace("listen [::]:443 ", f"listen [::1]:{https_port} ")
    site = site.replace("listen 80;", f"listen {http_port};").replace("listen [::]:80;", f"listen [::1]:{http_port};")
    site = site.replace("server 127.0.0.1:8501;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("server_name registry.example.org;", "server_name localhost;")
    (tmp_path / "msreg.conf").write_text(site)
    for d in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir()
    main_conf = tmp_path / "nginx.conf"
    main_conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\ndaemon off;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log {tmp_path}/access.log;\n"
        f"  client_body_temp_path {tmp_path}/client; proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/fastcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;\n"
        f"  include {tmp_path}/msreg.conf;\n"
        "}\n"
    )
    return main_conf


def test_nginx_accepts_the_configuration(tmp_path) -> None:
    nginx = _needs("nginx")
    conf = _nginx_setup(tmp_path, https_port=_free_port(), http_port=_free_port(), upstream_port=8501)
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def _wait_for(url: str, timeout: float = 60, **kw) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, **kw) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@pytest.fixture
def proxied_dashboard(tmp_path, sqlite_template) -> Iterator[str]:
    nginx = _needs("nginx")
    db = tmp_path / "registry.db"
    shutil.copyfile(sqlite_template, db)
    port, https_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSREG_DASHBOARD_NO_LOGIN")}
    subprocess.run([MSREG, "user", "add", "proxy-admin", "--role", "admin", "--password-stdin", "--db", f"sqlite:///{db}"],
                   input=f"{PASSWORD}\n", text=True, check=True, capture_output=True, env=env)
    app = subprocess.Popen([MSREG, "dashboard", "--address", "127.0.0.1", "--port", str(port), "--db", f"sqlite:///{db}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = _nginx_setup(tmp_path, https_port=https_port, http_port=_free_port(), upstream_port=port)
    proxy = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/_stcore/health")
        yield f"https://localhost:{https_port}"
    finally:
        for proc in (proxy, app):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_the_dashboard_works_through_the_tls_proxy_with_xsrf_on(proxied_dashboard, tmp_path) -> None:
    import ssl

    from playwright.sync_api import sync_playwright

    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"{proxied_dashboard}/", context=insecure, timeout=10) as r:
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        assert r.headers["X-Frame-Options"] == "DENY"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(proxied_dashboard, wait_until="domcontentloaded")
            # The login form is drawn by the app over the websocket: it appears only if the
            # upgrade passed the proxy and Streamlit's origin check accepted it.
            page.wait_for_selector('input[type="password"]', timeout=60_000)
            page.get_by_role("textbox", name="Username").fill("proxy-admin")
            page.locator('input[type="password"]').fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            try:
                page.wait_for_selector('input[type="password"]', state="detached", timeout=60_000)
            finally:
                page.screenshot(path=str(tmp_path / "after-login.png"), full_page=True)
            page.wait_for_selector("h1", timeout=60_000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
            )
            assert page.locator('input[type="password"]').count() == 0, "still on the login form"
            assert page.get_by_text("proxy-admin").count() >= 1  # signed in, over the proxied websocket
            assert page.locator('[data-testid="stException"]').count() == 0
            cookies = {c["name"] for c in page.context.cookies()}
            assert "_streamlit_xsrf" in cookies  # XSRF protection is on behind the proxy
        finally:
            browser.close()


# --------------------------------------------------------------------------------------------
# The backup script.
# --------------------------------------------------------------------------------------------


def test_the_backup_script_backs_up_verifies_and_prunes_old_backups(tmp_path, sqlite_template) -> None:
    db = tmp_path / "registry.db"
    shutil.copyfile(sqlite_template, db)
    db.chmod(0o600)
    folder = tmp_path / "backups"
    folder.mkdir()
    env = {**os.environ, "MSREG": MSREG, "MSREG_DATABASE_URL": f"sqlite:///{db}", "MSREG_BACKUP_DIR": str(folder),
           "MSREG_BACKUP_KEEP_DAYS": "30", "MSREG_BACKUP_KEEP_MIN": "2"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DEPLOY / "msreg-backup.sh")], env=env, capture_output=True, text=True, timeout=120)

    first = run()
    assert first.returncode == 0, first.stderr
    made = sorted(folder.glob("registry-*.msreg-backup"))
    assert len(made) == 1 and (made[0].stat().st_mode & 0o777) == 0o600
    # Three old backups (40 days), as earlier nights would have left them.
    old = []
    for stamp in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z"):
        f = folder / f"registry-{stamp}.msreg-backup"
        shutil.copy(made[0], f)
        past = time.time() - 40 * 86400
        os.utime(f, (past, past))
        old.append(f)
    time.sleep(1.1)  # a new name (the stamp has seconds)
    second = run()
    assert second.returncode == 0, second.stderr
    left = sorted(p.name for p in folder.glob("registry-*.msreg-backup"))
    # Newest two kept whatever their age; old ones beyond them removed.
    assert len(left) == 2, left
    assert not any(f.exists() for f in old)


def test_the_backup_script_keeps_everything_when_the_backup_fails(tmp_path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    keep = folder / "registry-20200101T000000Z.msreg-backup"
    keep.write_bytes(b"an older backup")
    past = time.time() - 40 * 86400
    os.utime(keep, (past, past))
    env = {**os.environ, "MSREG": MSREG, "MSREG_DATABASE_URL": f"sqlite:///{tmp_path / 'missing.db'}",
           "MSREG_BACKUP_DIR": str(folder), "MSREG_BACKUP_KEEP_DAYS": "1", "MSREG_BACKUP_KEEP_MIN": "0"}
    result = subprocess.run([str(DEPLOY / "msreg-backup.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert keep.exists()
