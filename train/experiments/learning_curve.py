"""Experiment: what annotation buys. The span classifier's k-fold CV on the gold outside the frozen
test split, with its training folds cut to nested subsets of n articles (``subset_ids``); every point
of one run is scored on the same test folds, against the rules and TF-IDF on the same articles.

Run it after each annotation batch; each run is appended to ``runs.jsonl`` in the output folder and
``report.md`` is re-rendered from all runs (the gold size, the commit and the date name each row).
The folds of two runs differ once the gold has grown (articles are dealt to folds by hash), so compare
points within a run; across runs compare the points of equal n.

Run (2-core CPU; encoder features are cached per text, so only new articles are encoded)::

    python -m huashu.train.experiments.learning_curve --sizes 25 50 100 200

A release evaluation (``huashu eval --config spancat``) computes the same curve at its config's
``curve`` sizes; ``--from-summary <summary.json> --commit <sha>`` appends that run's curve instead of
recomputing it (the commit the evaluation ran at; the summary itself does not record it).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from huashu.log import setup_logging
from huashu.machine import machine
from huashu.train.spancat import (
    CURVE_SYSTEMS,
    FeatureCache,
    build_tables,
    cross_validate,
    dev_examples,
    learning_curve,
    load_spancat_config,
)
from huashu.train.train import CONFIG_DIR

log = logging.getLogger("huashu.experiments.learning_curve")

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "reports" / "learning-curve"
TEST_SYSTEMS = ("spancat", "release", "rules", "tfidf")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_curve(sizes: list[int], overrides: list[str]) -> dict[str, Any]:
    cfg = load_spancat_config(CONFIG_DIR / "spancat.yaml", overrides)
    dev, test = dev_examples(cfg)
    t0 = time.monotonic()
    tables = build_tables(dev, cfg, FeatureCache(cfg.base, max_length=cfg.max_length, stride=cfg.stride))
    points = learning_curve(tables, cfg, cross_validate(tables, cfg), sizes)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _commit(),
        "command": "python -m huashu.train.experiments.learning_curve --sizes "
        + " ".join(str(s) for s in sizes) + "".join(f" --set {o}" for o in overrides),
        "gold_articles": len(dev) + len(test),
        "test_articles": len(test),
        "dev_articles": len(dev),
        "folds": cfg.folds,
        "points": points,
        "seconds": round(time.monotonic() - t0),
        "machine": machine(),
    }


def from_summary(path: Path, commit: str) -> dict[str, Any]:
    """A run row from a ``huashu eval --config spancat`` summary (its ``curve`` and ``data``)."""
    s = json.loads(path.read_text(encoding="utf-8"))
    dev, test = int(s["data"]["dev_articles"]), int(s["data"]["test_articles"])
    return {
        "date": s["date"][:16] + " UTC",
        "commit": commit,
        "command": s["command"],
        "gold_articles": dev + test,
        "test_articles": test,
        "dev_articles": dev,
        "folds": s["config"]["folds"],
        "points": [{k: p[k] for k in ("n_train", *CURVE_SYSTEMS)} for p in s["curve"]],
        "test": {
            k: round(float(v["micro"]["partial_f1"]), 4)
            for k, v in (s.get("test") or {}).get("scores", {}).items()
        },
        "seconds": s.get("seconds", 0),
        "machine": s["machine"],
    }


def render(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Learning curve: what annotation buys",
        "",
        "The span classifier (`train/configs/spancat.yaml`) cross-validated on the gold outside the frozen",
        "test split, training folds cut to nested subsets of *n* articles; rules and TF-IDF scored on the",
        "same test folds. Pooled partial micro-F1. One row per run (`runs.jsonl`), made by",
        "`python -m huashu.train.experiments.learning_curve` (module docstring). Within a run every point",
        "is scored on the same articles; the folds of two runs differ once the gold has grown.",
        "",
        "| run (date, commit) | gold articles (dev / test) | n train | span classifier | rules | TF-IDF |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        first = True
        for p in r["points"]:
            who = f"{r['date']}, `{r['commit']}`" if first else ""
            size = f"{r['gold_articles']} ({r['dev_articles']} / {r['test_articles']})" if first else ""
            lines.append(f"| {who} | {size} | {p['n_train']} | {p['spancat']:.3f} | {p['rules']:.3f} | "
                         f"{p['tfidf']:.3f} |")
            first = False
    tested = [r for r in runs if r.get("test")]
    if tested:
        lines += [
            "",
            "## The frozen test split (116 articles), scored once per release",
            "",
            "The same articles every time: what the extra training articles bought on text no choice was",
            "made on. `release` is the shipped per-label combination of classifier and rules.",
            "",
            "| run (date, commit) | training articles | span classifier | release | rules | TF-IDF |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in tested:
            cells = " | ".join(f"{r['test'].get(k, float('nan')):.3f}" for k in TEST_SYSTEMS)
            lines.append(f"| {r['date']}, `{r['commit']}` | {r['dev_articles']} | {cells} |")
    last = runs[-1]
    m = last["machine"]
    lines += [
        "",
        f"Last run: `{last['command']}`, {last['folds']} folds, {last['seconds']} s on {m.get('cpu', '?')} "
        f"({m.get('cores', '?')} cores). The rules were revised on the `rules_dev` articles "
        "(labels/splits.yaml), so their score here is optimistic; the span classifier uses their hits as "
        "features.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="key=value (YAML value)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--from-summary", type=Path, help="append the curve of this eval summary.json")
    ap.add_argument("--commit", default="", help="with --from-summary: the commit the evaluation ran at")
    a = ap.parse_args()
    setup_logging()
    if a.from_summary:
        run = from_summary(a.from_summary, a.commit or "unknown")
    else:
        import torch

        torch.set_num_threads(2)
        run = run_curve(a.sizes, a.overrides)
    a.out.mkdir(parents=True, exist_ok=True)
    with (a.out / "runs.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(run, ensure_ascii=False) + "\n")
    runs = [json.loads(x) for x in (a.out / "runs.jsonl").read_text(encoding="utf-8").splitlines() if x]
    (a.out / "report.md").write_text(render(runs), encoding="utf-8")
    log.info("wrote %s", a.out / "report.md")


if __name__ == "__main__":
    main()
