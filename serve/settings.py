"""Server settings: defaults, overridden by HUASHU_* environment variables, overridden by CLI flags.

The same object drives one process or several uvicorn workers: for workers > 1 the settings are
written back to the environment (``to_env``) and each worker rebuilds them (``from_env``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

ENV_PREFIX = "HUASHU_"


class SettingsError(ValueError):
    """A setting has a value the server cannot run with; the message names it."""


@dataclass(slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # detector spec for huashu.detector.load_detector: "rules", a model dir, "default"/None
    model: str | None = None
    max_chars: int = 200_000  # per document; more → 413
    max_batch: int = 32  # documents per /v1/score/batch request
    max_concurrency: int = 2  # documents scored at once per worker (threadpool size)
    queue: int = 32  # requests allowed to wait for a slot; beyond → 503 + Retry-After
    timeout: float = 30.0  # seconds per request, waiting included; beyond → 504
    retry_after: int = 1  # seconds, sent with 503
    log_level: str = "info"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.log_level = str(self.log_level).lower()
        checks = [
            (1 <= self.port <= 65535 or self.port == 0, "port must be in 0..65535"),
            (self.workers >= 1, "workers must be ≥ 1"),
            (self.max_chars >= 1, "max_chars must be ≥ 1"),
            (self.max_batch >= 1, "max_batch must be ≥ 1"),
            (self.max_concurrency >= 1, "max_concurrency must be ≥ 1"),
            (self.queue >= 0, "queue must be ≥ 0"),
            (self.timeout > 0, "timeout must be > 0 seconds"),
            (self.retry_after >= 0, "retry_after must be ≥ 0"),
            (self.log_level in {"critical", "error", "warning", "info", "debug", "trace"},
             f"log level {self.log_level!r}: expected critical, error, warning, info, debug or trace"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    @property
    def max_body_bytes(self) -> int:
        """Largest request body accepted before parsing: a full batch of max-size documents in
        UTF-8 (≤ 4 bytes a character, ≤ 6 when JSON-escaped) plus room for the envelope."""
        return self.max_batch * self.max_chars * 6 + 1_000_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults ← HUASHU_<FIELD> variables ← non-None ``overrides`` (CLI flags)."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, cls.__dataclass_fields__[f.name].default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except TypeError as e:
            raise SettingsError(str(e)) from None

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + k.upper(): str(v) for k, v in asdict(self).items() if v is not None}


def _convert(name: str, raw: str, default: Any) -> Any:
    if name == "model":
        return raw
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from None
    return raw
