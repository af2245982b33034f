"""`huashu serve` (the scoring HTTP server) and `huashu bench` (its speed, measured through HTTP)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger("huashu.serve")


def serve_command(
    host: Annotated[str | None, typer.Option(
        help="Bind address [env HUASHU_HOST, default 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env HUASHU_PORT, default 8000].")] = None,
    workers: Annotated[int | None, typer.Option(
        help="uvicorn worker processes [env HUASHU_WORKERS, default 1].")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "--detector",
        help="Detector: 'rules', a model directory (optionally '<dir>?precision=fp32'), a Hugging Face "
             "Hub id (owner/name), or 'default' [env HUASHU_MODEL].")] = None,
    max_chars: Annotated[int | None, typer.Option(
        help="Largest document in characters; more → 413 [env HUASHU_MAX_CHARS, default 200000].")] = None,
    max_batch: Annotated[int | None, typer.Option(
        help="Most documents per batch request [env HUASHU_MAX_BATCH, default 32].")] = None,
    max_concurrency: Annotated[int | None, typer.Option(
        help="Documents scored at once per worker [env HUASHU_MAX_CONCURRENCY, default 2].")] = None,
    queue: Annotated[int | None, typer.Option(
        help="Requests that may wait for a slot; beyond → 503 + Retry-After [env HUASHU_QUEUE, "
             "default 32].")] = None,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds per request, waiting included; beyond → 504 [env HUASHU_TIMEOUT, default 30].")] = None,
) -> None:
    """Run the scoring server: POST /v1/score, /v1/score/batch; the highlight page at /; /healthz,
    /readyz, /metrics, /docs; and the Label Studio ML-backend routes (/predict, /setup, /health)."""
    from huashu.detector import DetectorError
    from huashu.errors import UserError
    from huashu.serve.server import run_server
    from huashu.serve.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(host=host, port=port, workers=workers, model=model, max_chars=max_chars,
                                     max_batch=max_batch, max_concurrency=max_concurrency, queue=queue,
                                     timeout=timeout)
        run_server(settings)
    except (SettingsError, DetectorError) as e:
        raise UserError(str(e)) from None


def bench_command(
    detector: Annotated[list[str], typer.Option(
        "--detector", "-d",
        help="Engine spec passed to the server as HUASHU_MODEL; repeat to compare (e.g. -d rules "
             "-d <model dir> -d '<model dir>?precision=fp32').")] = ["rules"],  # noqa: B006
    sizes: Annotated[str, typer.Option(
        help="Article sizes in characters, comma-separated.")] = "500,2500,10000",
    requests: Annotated[int, typer.Option(help="Sequential requests per size (latency).")] = 50,
    throughput_seconds: Annotated[float, typer.Option(
        help="Seconds of sustained batch load per engine.")] = 15.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients sending batch requests.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Documents per batch request (2,500 chars each).")] = 8,
    workers: Annotated[int, typer.Option(help="Server max_concurrency (threads scoring at once).")] = 2,
    output: Annotated[Path, typer.Option(
        help="Folder for bench.json and bench.md.")] = Path("artifacts/bench"),
) -> None:
    """Measure the scoring server through HTTP on this machine: p50/p95 latency per article size,
    sustained batch throughput (chars/s), peak server RSS; one server subprocess per engine."""
    from huashu.errors import UserError
    from huashu.serve.bench import BenchError, run_bench

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes {sizes!r}: expected comma-separated integers") from None
    try:
        run_bench(detector, sizes=size_list, n_requests=requests, throughput_seconds=throughput_seconds,
                  clients=clients, batch_size=batch_size, max_concurrency=workers, output=output)
    except BenchError as e:
        raise UserError(str(e)) from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("bench")(bench_command)
