"""The dbt docs site (marts, columns, lineage, metrics and semantic models) on loopback.

``dbt docs generate`` writes the site into its own folder (``target/docs-site``), with the
catalog read from the warehouse in use; a small threaded HTTP server serves that folder
on 127.0.0.1 only — the catalog names every table and column, so it is not for the network.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

from tallyhouse.config import project_root
from tallyhouse.dbt import run_dbt

SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def site_dir() -> Path:
    return project_root() / "target" / "docs-site"


def generate(url: str | None = None) -> Path:
    """Write the docs site; raises RuntimeError with dbt's message when it cannot."""
    folder = site_dir()
    building = folder.with_name(".docs-site.building")
    shutil.rmtree(building, ignore_errors=True)
    done = run_dbt(["docs", "generate", "--target-path", str(building), "--quiet"], url=url,
                   capture=True)
    if done.returncode != 0 or not (building / "catalog.json").exists():
        raise RuntimeError("dbt docs generate failed:\n" + (done.stdout + done.stderr).strip())
    # only the site's own files: the rest of a target folder (compiled SQL) stays out of it
    for extra in building.iterdir():
        if extra.name not in SITE_FILES:
            if extra.is_dir():
                shutil.rmtree(extra)
            else:
                extra.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def serve(folder: Path, port: int = 8580, host: str = "127.0.0.1"
          ) -> http.server.ThreadingHTTPServer:
    """Serve ``folder`` in a background thread; returns the server (``shutdown()`` stops)."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="docs-site", daemon=True).start()
    return server
