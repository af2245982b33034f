"""Run the scoring server with uvicorn (one process or several workers)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from huashu.serve.settings import Settings

log = logging.getLogger("huashu.serve")


def check_model_spec(spec: str | None) -> None:
    """Fail fast, before binding a port, on a detector spec that cannot load."""
    if spec in (None, "", "default", "rules"):
        return
    path_str = spec.split("?", 1)[0]  # "<dir>?precision=fp32": the model side reads the query
    if not Path(path_str).exists():
        from huashu.detector import DetectorError
        from huashu.hub import HubError, hub_model_dir, looks_like_hub_id

        if looks_like_hub_id(path_str):  # download now, before binding the port (workers read the cache)
            try:
                hub_model_dir(path_str)
            except HubError as e:
                raise DetectorError(f"detector {spec!r}: {e}") from None
            return
        raise DetectorError(f"detector {spec!r}: not 'rules', 'default', an existing model directory "
                            "or a Hub id (owner/name)")


def run_server(settings: Settings) -> None:
    import uvicorn

    check_model_spec(settings.model)
    common = dict(host=settings.host, port=settings.port, log_level=settings.log_level,
                  # graceful shutdown: finish in-flight requests, but not forever
                  timeout_graceful_shutdown=int(settings.timeout) + 5, access_log=False)
    log.info("huashu serve on http://%s:%d (detector %s, %d worker(s), max %d concurrent + %d queued "
             "per worker, timeout %g s, max %d chars)", settings.host, settings.port,
             settings.model or "default", settings.workers, settings.max_concurrency, settings.queue,
             settings.timeout, settings.max_chars)
    if settings.workers == 1:
        from huashu.serve.app import create_app

        uvicorn.run(create_app(settings), **common)
        return
    # several processes: each worker rebuilds the settings from the environment
    os.environ.update(settings.to_env())
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="huashu-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        uvicorn.run("huashu.serve.app:create_app_from_env", factory=True, workers=settings.workers, **common)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
