"""First login to first rendered page, in a real browser, with `msreg dashboard` running.

    .venv/bin/python -m benchmarks.first_login [--patients 800] [--logins 3] [--db PATH] [--no-wait-warm]

Builds the demo registry (`msreg init` + `msreg demo`, unless --db), starts `msreg dashboard`
as a user does, waits until the server answers its health check, and then, in headless
Chromium, opens the login page, types a demo login and measures the time from submitting the
form to the first page's content being visible (the Overview's headline figure drawn, no
"running" indicator). The first login after the server started is the one users complained
about (15-35 s); later logins (new browser contexts: new sessions) are measured too.

By default the benchmark waits for the server's start-up warm-up (dashboard/warmup.py) to
finish before the first login, as a user arriving a few seconds after the server started
would; `--no-wait-warm` logs in at once and measures the worst case. The figure is wall time
(what the user waits), so it is printed next to a floor measured in the same run: the time
to load the login page itself.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MSREG = str(Path(sys.executable).with_name("msreg"))
CHROMIUM = "/usr/bin/chromium"
LOGIN_LINE = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+(admin|governance|researcher|centre \S+)\s*$")
CONTENT = ".js-plotly-plot .main-svg"  # the Overview's first figure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_demo(folder: Path, n_patients: int) -> tuple[str, list[tuple[str, str, str]]]:
    db = folder / "demo.db"
    subprocess.run([MSREG, "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([MSREG, "--db", str(db), "demo", "--patients", str(n_patients), "--no-progress"],
                         check=True, capture_output=True, text=True).stdout
    return str(db), [m.groups() for line in out.splitlines() if (m := LOGIN_LINE.match(line))]


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"msreg dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("dashboard did not start")


def wait_warm(log: Path, timeout: float = 120) -> float | None:
    """Seconds until the server's log says the warm-up finished (None if it never says so)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if "msreg warm-up done" in log.read_text(errors="replace"):
            return time.perf_counter() - t0
        time.sleep(0.2)
    return None


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its children that exited."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def descendants(root: int) -> list[int]:
    """Every process below `root` (Chromium's processes below this benchmark, for example)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    out, frontier = [], [root]
    while frontier:
        kids = [pid for pid, ppid in parent.items() if ppid in frontier]
        out += kids
        frontier = kids
    return out


def browser_cpu(exclude: set[int]) -> float:
    total = 0.0
    for pid in descendants(os.getpid()):
        if pid in exclude:
            continue
        try:
            total += process_cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def server_pid(msreg_pid: int) -> int:
    """The Streamlit server: the child process of `msreg dashboard`."""
    children = Path(f"/proc/{msreg_pid}/task/{msreg_pid}/children").read_text().split()
    return int(children[0]) if children else msreg_pid


def login_once(browser, base: str, username: str, password: str, pid: int) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """(seconds to show the login form, seconds from submitting it to the first page's content,
    server CPU and browser CPU seconds spent in between)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(base, wait_until="domcontentloaded")
        page.get_by_label("Username").wait_for(timeout=120_000)
        form = time.perf_counter() - t0
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        server = {pid, *descendants(pid), int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])}
        cpu0, b0 = process_cpu(pid), browser_cpu(server)
        t1 = time.perf_counter()
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector(CONTENT, timeout=120_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
        wall = time.perf_counter() - t1
        return form, wall, process_cpu(pid) - cpu0, browser_cpu(server) - b0
    finally:
        context.close()


def session_cpu(pid: int) -> tuple[float, float]:
    server = {pid, *descendants(pid), int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])}
    return process_cpu(pid), browser_cpu(server)


def serve_and_log_in(db: str, user: str, password: str, *, warm_up: bool, wait_warm_up: bool, logins: int,
                     folder: Path) -> dict[str, float]:
    """Start `msreg dashboard`, then: first visit of the login page, first login, later logins."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://localhost:{port}"
    log = folder / f"dashboard-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSREG_DASHBOARD_NO_")}
    if not warm_up:
        env["MSREG_DASHBOARD_NO_WARM_UP"] = "1"
    out: dict[str, float] = {}
    with log.open("wb") as log_fh:
        proc = subprocess.Popen([MSREG, "--db", db, "dashboard", "--port", str(port)], env=env,
                                stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        out["start"] = wait_healthy(base, proc)
        if warm_up and wait_warm_up:
            out["warm"] = wait_warm(log) or float("nan")
        pid = server_pid(proc.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                s0, _ = session_cpu(pid)
                form, first, first_cpu, first_browser = login_once(browser, base, user, password, pid)
                s1, _ = session_cpu(pid)
                out.update(form=form, first=first, first_cpu=first_cpu, first_browser=first_browser,
                           first_total_server=s1 - s0)
                later = [login_once(browser, base, user, password, pid) for _ in range(logins)]
            finally:
                browser.close()
        if later:
            out["later"] = statistics.median(t for _, t, _, _ in later)
            out["later_cpu"] = statistics.median(c for _, _, c, _ in later)
            out["later_browser"] = statistics.median(b for _, _, _, b in later)
            out["floor"] = min(f for f, _, _, _ in later)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--logins", type=int, default=2, help="logins after the first (new sessions)")
    parser.add_argument("--db", help="an existing demo registry; then --user and --password too")
    parser.add_argument("--user", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument("--no-wait-warm", action="store_true", help="log in as soon as the server answers")
    parser.add_argument("--only-warm", action="store_true", help="skip the comparison run without warm-up")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="msreg-first-login-") as tmp:
        if args.db:
            db, user, password = args.db, args.user, args.password
        else:
            t0 = time.perf_counter()
            db, logins = build_demo(Path(tmp), args.patients)
            user, password, _ = next(x for x in logins if x[2] == "admin")
            print(f"demo registry: {args.patients} patients in {time.perf_counter() - t0:.1f} s")
        modes = [("warm-up at start", True)] + ([] if args.only_warm else [("no warm-up", False)])
        for label, warm in modes:
            r = serve_and_log_in(db, user, password, warm_up=warm, wait_warm_up=not args.no_wait_warm,
                                 logins=args.logins, folder=Path(tmp))
            print(f"--- {label}: server answering after {r['start']:.1f} s"
                  + (f", warm-up finished {r['warm']:.1f} s later" if "warm" in r else ""))
            print(f"first visit: login page shown          {r['form']:6.2f} s wall")
            print(f"first login -> first page content      {r['first']:6.2f} s wall (target <= 3 s);"
                  f"  CPU: server {r['first_cpu']:5.2f} s, browser {r['first_browser']:5.2f} s;"
                  f"  server CPU from first visit to first page {r['first_total_server']:5.2f} s")
            if "later" in r:
                print(f"later logins (median of {args.logins})           {r['later']:6.2f} s wall;"
                      f"  CPU: server {r['later_cpu']:5.2f} s, browser {r['later_browser']:5.2f} s;"
                      f"  floor (login page, warm server) {r['floor']:5.2f} s wall")
    load = os.getloadavg()[0]
    print(f"({args.patients} demo patients, headless Chromium, a new browser context per login (empty cache); "
          f"load average {load:.1f} on {os.cpu_count()} CPUs: wall time includes waiting for the neighbours, CPU does not)")


if __name__ == "__main__":
    main()
