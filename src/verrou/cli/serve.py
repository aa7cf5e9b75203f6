"""``verrou serve``: the check API under uvicorn."""

from __future__ import annotations

import logging

import click

from verrou.api.runtime import tune_garbage_collector
from verrou.cli import Context, err, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status).")
@click.pass_obj
def serve(obj: Context, host: str, port: int, access_log: bool) -> None:
    """Serve the check API (POST /v1/checks, /docs, /.well-known/jwks.json, /metrics), the
    private exposure check (/v1/lookup, with the OPRF key), the HIBP v3-compatible routes
    (/api/v3/) and the web portal (/ for citizens, /operator for operators).

    One process: checks arriving together share one store transaction (group commit). Needs
    the fingerprint key and the signing key (`verrou keys init`). Stop with Ctrl-C.
    """
    from verrou.api import api_state
    from verrou.api.server import serve_app
    from verrou.web import portal_app

    settings = obj.settings()
    app = portal_app(settings)
    tune_garbage_collector()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    err.print(f"verrou API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    err.print(f"portal: http://{host}:{port}/  (operators: http://{host}:{port}/operator)")
    lookup = api_state(app).lookup
    if lookup is None:
        err.print(f"private exposure check: off (no OPRF key at {settings.oprf_key_file})")
    else:
        err.print(f"private exposure check: on, OPRF key {lookup.service.key.key_id}")
    serve_app(app, host, port, access_log=access_log)
