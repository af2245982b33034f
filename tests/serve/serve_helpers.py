"""Helpers for the scoring-server tests: a real `huashu serve` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
# the console script's entry point
HUASHU = [sys.executable, "-c", "from huashu.cli import main; main()"]
ARTIFACTS = Path(os.environ.get("HUASHU_ARTIFACTS", REPO / "artifacts"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident set size (or VmHWM, the peak) of a process in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(log_dir: Path, *args: str, env: dict[str, str] | None = None,
                 ready_timeout: float = 60.0) -> Server:
    """`huashu serve --port <free> <args>`; waits until /readyz says ready."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    full_env = {**os.environ, "HUASHU_LOG_LEVEL": "INFO", **(env or {})}
    for key in ("HUASHU_MODEL", "HUASHU_MAX_CHARS", "HUASHU_QUEUE", "HUASHU_TIMEOUT", "HUASHU_WORKERS",
                "HUASHU_MAX_CONCURRENCY", "HUASHU_HOST", "HUASHU_PORT", "HUASHU_MAX_BATCH"):
        if env is None or key not in env:
            full_env.pop(key, None)
    cmd = [*HUASHU, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log_path.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return Server(url, proc, log_path)
        time.sleep(0.2)
    stop_server(Server(url, proc, log_path))
    raise RuntimeError(f"server not ready in {ready_timeout} s:\n{log_path.read_text()}")


def stop_server(server: Server, timeout: float = 30.0) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(5)
    return server.proc.returncode


@contextlib.contextmanager
def running_server(log_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(log_dir, *args, env=env)
    try:
        yield server
    finally:
        stop_server(server)
