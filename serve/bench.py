"""`huashu bench`: the scoring server's speed, measured through HTTP on this machine.

For each engine spec (``rules``, ``<model dir>``, ``<model dir>?precision=fp32`` …) a server
subprocess is started with ``HUASHU_MODEL=<spec>`` on a free loopback port, then:

- latency: sequential POST /v1/score of articles of each size (built from the seed articles'
  cleaned text), p50/p95 of the client-side time;
- throughput: ``clients`` concurrent clients sending POST /v1/score/batch of 2,500-character
  articles for ``throughput_seconds``; characters scored per second;
- peak RSS of the server process (VmHWM).

Results go to a rich table and to ``bench.json`` / ``bench.md`` with the command, the machine
(nproc, CPU model) and the date.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from huashu.machine import machine
from huashu.paths import REPO_ROOT

log = logging.getLogger("huashu.bench")
THROUGHPUT_DOC_CHARS = 2_500
TARGETS = {"p50_ms_at_2500": 150.0, "chars_per_s": 20_000.0}


class BenchError(RuntimeError):
    """The benchmark could not run (server did not start, no seed text…)."""


@dataclass
class EngineResult:
    spec: str
    model: dict[str, str] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # size → {p50_ms, p95_ms, …}
    throughput: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    startup_s: float = 0.0
    errors: int = 0


def seed_pool() -> str:
    """The seed articles' cleaned text (page chrome removed), joined: the benchmark's material."""
    from huashu.ingest import ingest_text, read_text

    seeds = sorted((REPO_ROOT / "seeds").glob("*.txt"))
    if not seeds:
        raise BenchError(f"no seed articles in {REPO_ROOT / 'seeds'}")
    return "\n".join(ingest_text(read_text(p), p.stem).text for p in seeds)


def article(pool: str, size: int, offset: int = 0) -> str:
    """``size`` characters of seed text starting at ``offset`` (wrapping around)."""
    reps = size // len(pool) + 2
    text = (pool + "\n") * reps
    start = offset % len(pool)
    return text[start:start + size]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_peak_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextlib.contextmanager
def server_process(spec: str, max_concurrency: int, log_dir: Path, ready_timeout: float = 600.0):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {**os.environ, "HUASHU_MODEL": spec, "HUASHU_MAX_CONCURRENCY": str(max_concurrency),
           "HUASHU_QUEUE": "256", "HUASHU_TIMEOUT": "120", "HUASHU_WORKERS": "1"}
    log_path = log_dir / f"server-{port}.log"
    cmd = [sys.executable, "-c", "from huashu.cli import main; main()", "serve", "--host", "127.0.0.1",
           "--port", str(port)]
    with log_path.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                raise BenchError(f"server for {spec!r} exited ({proc.returncode}):\n"
                                 f"{log_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(url + "/readyz", timeout=5)
                if r.status_code == 200:
                    break
                if r.status_code == 503 and r.json().get("error") == "detector_unavailable":
                    raise BenchError(f"{spec!r}: {r.json()['message']}")
            if time.monotonic() - t0 > ready_timeout:
                raise BenchError(f"server for {spec!r} not ready after {ready_timeout:.0f} s")
            time.sleep(0.25)
        yield url, proc, time.monotonic() - t0, r.json().get("model", {})
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure_latency(url: str, pool: str, size: int, n: int) -> dict[str, float]:
    times: list[float] = []
    server_ms: list[float] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for i in range(n + 3):
            text = article(pool, size, offset=997 * i)
            t0 = time.perf_counter()
            r = client.post("/v1/score", json={"text": text})
            dt = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                raise BenchError(f"POST /v1/score ({size} chars) → {r.status_code}: {r.text[:300]}")
            if i >= 3:  # warm-up
                times.append(dt)
                server_ms.append(float(r.json()["elapsed_ms"]))
    return {"p50_ms": round(_percentile(times, 50), 1), "p95_ms": round(_percentile(times, 95), 1),
            "mean_ms": round(statistics.fmean(times), 1),
            "server_p50_ms": round(_percentile(server_ms, 50), 1),
            "n": n}


async def _throughput(url: str, pool: str, seconds: float, clients: int, batch_size: int) -> dict[str, float]:
    chars = 0
    requests = 0
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as c:
        async def worker(k: int) -> None:
            nonlocal chars, requests, errors
            i = k * 1000
            while time.monotonic() < deadline:
                docs = [{"text": article(pool, THROUGHPUT_DOC_CHARS, offset=389 * (i + j))}
                        for j in range(batch_size)]
                i += batch_size
                r = await c.post("/v1/score/batch", json={"documents": docs})
                if r.status_code != 200:
                    errors += 1
                    continue
                requests += 1
                chars += sum(len(d["text"]) for d in docs)

        t0 = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.monotonic() - t0
    return {"chars_per_s": round(chars / wall), "docs_per_s": round(requests * batch_size / wall, 1),
            "batch_requests": requests, "errors": errors, "seconds": round(wall, 1), "clients": clients,
            "batch_size": batch_size}


def bench_engine(spec: str, pool: str, sizes: list[int], n_requests: int, throughput_seconds: float,
                 clients: int, batch_size: int, max_concurrency: int, log_dir: Path) -> EngineResult:
    result = EngineResult(spec)
    with server_process(spec, max_concurrency, log_dir) as (url, proc, startup, model):
        result.startup_s = round(startup, 1)
        result.model = model
        for size in sizes:
            log.info("%s: latency at %d chars (%d requests)", spec, size, n_requests)
            result.latency[str(size)] = measure_latency(url, pool, size, n_requests)
        if throughput_seconds > 0:
            log.info("%s: batch throughput, %d clients × %d docs, %.0f s", spec, clients, batch_size,
                     throughput_seconds)
            result.throughput = asyncio.run(_throughput(url, pool, throughput_seconds, clients, batch_size))
            result.errors = int(result.throughput["errors"])
        result.peak_rss_mib = _rss_peak_mib(proc.pid)
    return result


def to_markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    head = ["engine", "model", *[f"p50 / p95 ms @ {s:,}" for s in sizes], "batch chars/s", "peak RSS MiB"]
    lines = [
        "# huashu bench",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}",
        f"- machine: {report['machine']['nproc']} CPUs, {report['machine']['cpu']}, Python "
        f"{report['machine']['python']}",
        f"- server: 1 uvicorn worker, max_concurrency {report['max_concurrency']}; latency = client-side "
        f"time of sequential POST /v1/score ({report['requests']} requests per size after 3 warm-up); "
        f"throughput = {report['clients']} concurrent clients × POST /v1/score/batch of "
        f"{report['batch_size']} × {THROUGHPUT_DOC_CHARS:,}-char articles for "
        f"{report['throughput_seconds']:g} s",
        "- text: the seed articles' cleaned text (seeds/), cut to each size",
        f"- targets (default model): p50 ≤ {TARGETS['p50_ms_at_2500']:.0f} ms @ 2,500 chars, "
        f"≥ {TARGETS['chars_per_s']:,.0f} chars/s",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for e in report["engines"]:
        cells = [f"`{e['spec']}`", f"{e['model'].get('id', '?')} {e['model'].get('version', '')}"]
        for s in sizes:
            lat = e["latency"].get(str(s), {})
            cells.append(f"{lat.get('p50_ms', '–')} / {lat.get('p95_ms', '–')}")
        cells.append(f"{e['throughput'].get('chars_per_s', 0):,}" if e["throughput"] else "–")
        cells.append(f"{e['peak_rss_mib']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"huashu bench · {report['machine']['nproc']} CPUs · {report['machine']['cpu']}")
    table.add_column("engine")
    table.add_column("model")
    for s in report["sizes"]:
        table.add_column(f"p50/p95 ms\n@{s:,}", justify="right")
    table.add_column("batch chars/s", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    for e in report["engines"]:
        row = [e["spec"], f"{e['model'].get('id', '?')} {e['model'].get('version', '')}"]
        for s in report["sizes"]:
            lat = e["latency"].get(str(s), {})
            row.append(f"{lat.get('p50_ms', '–')} / {lat.get('p95_ms', '–')}")
        row.append(f"{e['throughput'].get('chars_per_s', 0):,}" if e["throughput"] else "–")
        row.append(str(e["peak_rss_mib"]))
        table.add_row(*row)
    Console().print(table)


def run_bench(specs: list[str], *, sizes: list[int], n_requests: int, throughput_seconds: float, clients: int,
              batch_size: int, max_concurrency: int, output: Path) -> dict[str, Any]:
    if not specs:
        raise BenchError("no --detector given")
    if n_requests < 1 or any(s < 1 for s in sizes):
        raise BenchError("--requests and --sizes must be positive")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    pool = seed_pool()
    output.mkdir(parents=True, exist_ok=True)
    engines = []
    with tempfile.TemporaryDirectory(prefix="huashu-bench-") as tmp:
        for spec in specs:
            engines.append(bench_engine(spec, pool, sizes, n_requests, throughput_seconds, clients,
                                        batch_size, max_concurrency, Path(tmp)))
    report = {
        "command": shlex.join(["huashu", *sys.argv[1:]]) if "bench" in sys.argv else "run_bench()",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "sizes": sizes, "requests": n_requests, "throughput_seconds": throughput_seconds, "clients": clients,
        "batch_size": batch_size, "max_concurrency": max_concurrency, "targets": TARGETS,
        "engines": [asdict(e) for e in engines],
    }
    (output / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (output / "bench.md").write_text(to_markdown(report))
    print_table(report)
    log.info("wrote %s and %s", output / "bench.json", output / "bench.md")
    return report
