"""`python -m dashboard.serve APP [streamlit options]`: `streamlit run`, plus the start-up warm-up.

Why a wrapper instead of `python -m streamlit run`: the warm-up (dashboard.warmup) must fill the
caches of the server process itself, so it has to start inside that process, before the first
user arrives; Streamlit offers no start-up hook. Everything else is Streamlit's own command
line, unchanged (`msreg dashboard` builds the arguments). `MSREG_DASHBOARD_NO_WARM_UP=1`
switches the warm-up off.
"""

from __future__ import annotations

import os
import sys

NO_WARM_UP_ENV = "MSREG_DASHBOARD_NO_WARM_UP"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get(NO_WARM_UP_ENV) != "1":
        from dashboard.warmup import import_heavy_modules, start_warm_up
        from registry.db import resolve_url

        import_heavy_modules()  # here, before any other thread runs: see dashboard.warmup
        start_warm_up(resolve_url(None))
    from streamlit.web import cli as streamlit_cli

    sys.argv = ["streamlit", "run", *args]
    sys.exit(streamlit_cli.main())


if __name__ == "__main__":
    main()
