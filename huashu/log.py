"""Logging: rich handler on stderr, one call to set it up."""

from __future__ import annotations

import logging
import os

_CONFIGURED = False


def setup_logging(level: str | int | None = None) -> None:
    global _CONFIGURED
    if _CONFIGURED:
        return
    from rich.console import Console
    from rich.logging import RichHandler

    level = level or os.environ.get("HUASHU_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                              markup=False)],
    )
    for noisy in ("httpx", "httpcore", "urllib3"):  # one line per HTTP request is noise at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _CONFIGURED = True
