"""Run the receiver under uvicorn (uvloop, httptools with request deadlines), with a summary."""

from __future__ import annotations

import logging
import sys

import uvicorn

from tallyhouse.receiver.app import Settings, create_app
from tallyhouse.receiver.platforms import PLATFORMS
from tallyhouse.receiver.protocol import bounded_protocol


def startup_lines(settings: Settings, host: str, port: int) -> list[str]:
    lines = [f"tallyhouse receive on http://{host}:{port} — landing {settings.landing}"]
    for platform in PLATFORMS.values():
        state = ("ready" if platform.name in settings.secrets
                 else f"NOT CONFIGURED: answers 503 until {platform.secret_env} is set")
        lines.append(f"  POST /webhooks/{platform.name:<8} {state}")
    lines.append(f"  files close every {settings.rotate_seconds:g}s or "
                 f"{settings.rotate_bytes / (1 << 20):g} MiB; bodies over "
                 f"{settings.max_body_bytes:,} bytes answer 413")
    lines.append(f"  a client has {settings.header_timeout:g}s to send its headers and "
                 f"{settings.body_timeout:g}s more for its body, else it is cut off (408)")
    lines.append("  GET  /healthz; Ctrl+C (or SIGTERM) closes the open files and stops")
    return lines


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for line in startup_lines(settings, host, port):
        print(line, flush=True)
    app = create_app(settings)
    # uvicorn's httptools protocol with deadlines for headers and body (see protocol.py)
    http = bounded_protocol(settings.header_timeout, settings.body_timeout,
                            app.state.receiver.connections)
    config = uvicorn.Config(
        app, host=host, port=port, loop="uvloop", http=http,
        lifespan="on", access_log=False, log_level="warning", server_header=False,
        timeout_graceful_shutdown=30, backlog=4096,
    )
    uvicorn.Server(config).run()
    return 0
