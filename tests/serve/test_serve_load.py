"""Bounded load test on loopback: 16 concurrent asyncio clients for HUASHU_LOAD_SECONDS (CI: 60 s).

Asserts 0 errors; prints p50/p99 latency and server RSS before/after and writes them to
artifacts/serve/load.json.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import httpx
import pytest
from serve_helpers import Server, rss_kib

log = logging.getLogger(__name__)
CLIENTS = 16
SECONDS = float(os.environ.get("HUASHU_LOAD_SECONDS", "60"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _load(url: str, texts: list[str], seconds: float) -> tuple[list[float], list[str], int]:
    latencies: list[float] = []
    errors: list[str] = []
    chars = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker(k: int) -> None:
            nonlocal chars
            i = k
            while time.monotonic() < deadline:
                text = texts[i % len(texts)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/score", json={"text": text, "id": f"c{k}-{i}"})
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
                    continue
                body = r.json()
                if any(text[s["start"]:s["end"]] != s["text"] for s in body["spans"]):
                    errors.append("span text does not match offsets")
                chars += len(text)

        await asyncio.gather(*(worker(k) for k in range(CLIENTS)))
    return latencies, errors, chars


@pytest.mark.slow
def test_load_16_clients(server: Server, seed_texts: list[str], artifacts_dir: Path) -> None:
    # the five seeds (2.7k-5k chars) plus a short and a long mixed text
    texts = [*seed_texts, "😀𠮷 有分析人士指出，這是一記釜底抽薪的組合拳。", "\n".join(seed_texts[:2]) * 3]
    rss_before = rss_kib(server.pid)
    t0 = time.monotonic()
    latencies, errors, chars = asyncio.run(_load(server.url, texts, SECONDS))
    wall = time.monotonic() - t0
    rss_after = rss_kib(server.pid)
    rss_peak = rss_kib(server.pid, "VmHWM")
    report = {
        "clients": CLIENTS, "seconds": round(wall, 1), "requests": len(latencies), "errors": len(errors),
        "requests_per_s": round(len(latencies) / wall, 1), "chars_per_s": round(chars / wall),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
        "rss_peak_mib": round(rss_peak / 1024, 1),
        "detector": "rules", "server": "huashu serve (1 worker, max_concurrency 2, queue 32)",
        "machine": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (artifacts_dir / "load.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("\nload test:", json.dumps(report, ensure_ascii=False))
    assert latencies, "no request completed"
    assert not errors, errors[:5]
    # a leak would show as RSS growing with the number of requests; allow allocator noise
    assert rss_after < rss_before + 200 * 1024, report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
