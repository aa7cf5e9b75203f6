"""The API under uvicorn, with a shutdown that belongs to the web process."""

from __future__ import annotations

import contextlib
from types import FrameType

import uvicorn
from fastapi import FastAPI

from verrou.api.hibp import redact_access_log
from verrou.api.state import api_state


class ApiServer(uvicorn.Server):
    """uvicorn's server, telling the check recorder as soon as a stop is asked.

    uvicorn drains connections before the app's shutdown runs; a recorder that dies in that
    time must not be replaced by a new one (the stop is ours; the recorder child ignores the
    terminal's SIGINT and waits to be told).

    Its access log (when on) never shows an HIBP account search's email address
    (:func:`~verrou.api.hibp.redact_access_log`).
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app
        redact_access_log()  # after the config set up uvicorn's loggers

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        serving = api_state(self._app).serving
        if serving is not None:
            serving.runner.begin_shutdown()
        super().handle_exit(sig, frame)


def serve_app(app: FastAPI, host: str, port: int, *, access_log: bool) -> None:
    """Serve ``app`` until a signal stops it; a Ctrl-C is a normal end (exit status 0)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
        proxy_headers=False,
    )
    # uvicorn re-raises the signal that stopped it once it has shut down: the KeyboardInterrupt
    # of a Ctrl-C is then the end we asked for, not an error (uvicorn.run does the same).
    with contextlib.suppress(KeyboardInterrupt):
        ApiServer(config, app).run()
