"""`huashu dataset | train | eval | export`: the model steps of the data flow.

Training code lives in train/ and is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Annotated

import typer

from huashu.cli import UserError

log = logging.getLogger(__name__)

CONFIG_HELP = "YAML config: a path or a name in train/configs/ (tiny, full)."
SET_HELP = "Override a config value: section.key=value (repeatable), e.g. --set train.epochs=2."


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn expected failures (bad config, missing files, broken annotations) into one-line errors.
    Progress and the Trainer's log lines go to stderr: stdout carries only the command's JSON."""
    try:
        with redirect_stdout(sys.stderr):
            yield
    except UserError:
        raise
    except (FileNotFoundError, ValueError, ImportError, KeyError) as e:
        raise UserError(str(e) or e.__class__.__name__) from None


def _config(config: str, overrides: list[str] | None, out: Path | None):
    from train.train import load_config

    cfg = load_config(config, overrides or [])
    if out is not None:
        cfg.out = str(out)
    return cfg


def register(app: typer.Typer) -> None:
    @app.command("dataset")
    def dataset_cmd(
        config: Annotated[str, typer.Option("--config", "-c", help=CONFIG_HELP)] = "full",
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Where to save the DatasetDict (default <run dir>/dataset)."),
        ] = None,
        overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    ) -> None:
        """Build the windowed dataset (gold split by article, weak split, headlines) and save it."""
        with _user_errors():
            from train.dataset import build_dataset, load_corpus, save_dataset
            from train.model import resolve_base_dir

            cfg = _config(config, overrides, None)
            from transformers import AutoTokenizer

            from huashu.inference import prepare_tokenizer

            tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(resolve_base_dir(cfg.base)))
            corpus = load_corpus(cfg.data)
            dd, manifest = build_dataset(cfg.data, tokenizer, corpus)
            target = out or cfg.out_dir / "dataset"
            save_dataset(dd, manifest, target)
        typer.echo(
            json.dumps(
                {
                    "out": str(target),
                    "rows": manifest["rows"],
                    "spans": manifest["spans"],
                    "articles": {k: len(v) for k, v in manifest["splits"].items()},
                    "weak_docs": len(manifest["weak_docs"]),
                    "headlines": manifest["headlines"],
                },
                ensure_ascii=False,
                indent=2,
            )
        )

    @app.command("train")
    def train_cmd(
        config: Annotated[str, typer.Option("--config", "-c", help=CONFIG_HELP)] = "full",
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Run directory (default <data dir>/runs/<name>).")
        ] = None,
        overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
        all_gold: Annotated[
            bool,
            typer.Option(
                "--all-gold",
                help="Train on every gold article (release model): "
                "no test split, a small validation split for thresholds.",
            ),
        ] = False,
    ) -> None:
        """Fine-tune the encoder (token heads + headline head) from a YAML config."""
        with _user_errors():
            from train.train import run

            cfg = _config(config, overrides, out)
            report = run(cfg, all_gold=all_gold)
        typer.echo(
            json.dumps(
                {k: report[k] for k in ("model_dir", "train_seconds", "steps", "train_loss", "thresholds")},
                ensure_ascii=False,
                indent=2,
            )
        )

    @app.command("eval")
    def eval_cmd(
        config: Annotated[str, typer.Option("--config", "-c", help=CONFIG_HELP)] = "full",
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Report directory (default <run dir>/eval).")
        ] = None,
        overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
        baselines_only: Annotated[
            bool, typer.Option("--baselines-only", help="Skip the model (rules + TF-IDF only).")
        ] = False,
        folds: Annotated[int, typer.Option("--folds", help="Override cv.folds.")] = 0,
    ) -> None:
        """Cross-validate model and baselines by article; write report.md, summary.json, report.json."""
        with _user_errors():
            from train.evaluate import evaluate

            cfg = _config(config, overrides, None)
            if folds:
                cfg.cv.folds = folds
            summary = evaluate(cfg, out_dir=out, train_model_too=False if baselines_only else None)
        micro = {k: round(float(v["micro"]["partial_f1"]), 4) for k, v in summary["scores"].items()}
        typer.echo(
            json.dumps(
                {
                    "out": str(out or cfg.out_dir / "eval"),
                    "partial_micro_f1": micro,
                    "seconds": summary["seconds"],
                },
                ensure_ascii=False,
                indent=2,
            )
        )

    @app.command("export")
    def export_cmd(
        model_dir: Annotated[Path, typer.Argument(help="A trained model directory (<run dir>/model).")],
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Release directory (default huashu/models/default)."),
        ] = None,
        eval_summary: Annotated[
            Path | None,
            typer.Option(
                "--eval",
                help="summary.json of `huashu eval`: per-label "
                "model/rules choice and figures for the model card.",
            ),
        ] = None,
        precision: Annotated[
            str, typer.Option("--precision", help="auto (measure and pick), fp32, bf16, int8, onnx.")
        ] = "auto",
        bench_docs: Annotated[
            int, typer.Option("--bench-docs", help="Articles used for the speed/F1 measurement.")
        ] = 12,
        latency_sizes: Annotated[
            str, typer.Option("--latency-sizes", help="Article sizes (chars) for the latency figures.")
        ] = "500,2500,10000",
    ) -> None:
        """Export for fast CPU inference: trim vocabulary, measure precisions, write the release dir."""
        with _user_errors():
            from huashu.paths import default_model_dir
            from train.export import export

            sizes = tuple(int(x) for x in latency_sizes.split(",") if x.strip())
            result = export(
                model_dir, out or default_model_dir(), eval_summary, precision, bench_docs, sizes=sizes
            )
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
