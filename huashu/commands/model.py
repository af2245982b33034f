"""`huashu dataset | train | eval | export`: the model steps of the data flow.

Training code lives in train/ and is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Annotated

import typer

from huashu.errors import UserError

log = logging.getLogger(__name__)

CONFIG_HELP = ("YAML config: a path or a name in train/configs/ (spancat, spancat-tiny: the span "
               "classifier; full, tiny: the token tagger).")
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


def _spancat(config: str, overrides: list[str] | None):
    """The span-classifier config when ``config`` names one (``arch: spancat``), else None."""
    from huashu.train.spancat import is_spancat, load_spancat_config
    from huashu.train.train import CONFIG_DIR

    p = Path(config)
    if not p.exists() and (CONFIG_DIR / f"{config}.yaml").exists():
        p = CONFIG_DIR / f"{config}.yaml"
    return load_spancat_config(p, overrides or []) if p.exists() and is_spancat(p) else None


def _config(config: str, overrides: list[str] | None, out: Path | None):
    from huashu.train.train import load_config

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
            from huashu.train.dataset import build_dataset, load_corpus, save_dataset
            from huashu.train.model import resolve_base_dir

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
        eval_summary: Annotated[
            Path | None,
            typer.Option("--eval", help="spancat: summary.json of `huashu eval` (per-label model/rules "
                                        "choice, headline C)."),
        ] = None,
    ) -> None:
        """Train from a YAML config: the span classifier (spancat configs: on every gold article
        outside the frozen test split, written to <out>/model) or the fine-tuned token tagger."""
        with _user_errors():
            sc = _spancat(config, overrides)
            if sc is not None and all_gold:
                raise UserError("--all-gold is the token tagger's: a spancat model always trains on every "
                                "gold article outside the frozen test split")
            if sc is not None:
                from huashu.train.spancat import export, run_command

                model_dir = (out or sc.out_dir) / "model"
                meta = export(sc, model_dir, eval_summary, command=run_command())
        if sc is not None:  # stdout carries only the command's JSON
            typer.echo(json.dumps({"model_dir": str(model_dir), "thresholds": meta["thresholds"],
                                   "label_sources": meta["label_sources"],
                                   "seconds": meta["training"]["seconds"]}, ensure_ascii=False, indent=2))
            return
        with _user_errors():
            from huashu.train.train import run

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
        test: Annotated[bool, typer.Option(
            "--test", help="spancat: also score the frozen test split (labels/splits.yaml), once per release."
        )] = False,
    ) -> None:
        """Cross-validate model and baselines by article; write report.md, summary.json, report.json."""
        with _user_errors():
            sc = _spancat(config, overrides)
            if sc is not None and baselines_only:
                raise UserError("--baselines-only is the token tagger's: the spancat eval always scores the "
                                "rules and TF-IDF next to the classifier")
            if sc is not None:
                from huashu.train.spancat import evaluate as sc_evaluate
                from huashu.train.spancat import run_command

                if folds:
                    sc.folds = folds
                out_dir = out or sc.out_dir / "eval"
                summary = sc_evaluate(sc, out_dir, score_test=test, command=run_command())
                res = {"out": str(out_dir),
                       "suggesters": {k: {"per_1000_chars": round(v["per_1000"], 1),
                                          "recall_iou50": round(v["recall"], 3),
                                          "per_label": {lb: round(x, 3) for lb, x in v["per_label"].items()}}
                                      for k, v in summary["suggesters"].items()},
                       "cv_partial_micro_f1": {k: v["micro"]["partial_f1"]
                                               for k, v in summary["cv"]["scores"].items()},
                       "headline_accuracy": summary["headline"]["encoder_lr"]["accuracy"],
                       "seconds": summary["seconds"]}
                if "test" in summary:
                    res["test_partial_micro_f1"] = {k: round(float(v["micro"]["partial_f1"]), 4)
                                                    for k, v in summary["test"]["scores"].items()}
        if sc is not None:  # stdout carries only the command's JSON
            typer.echo(json.dumps(res, ensure_ascii=False, indent=2))
            return
        with _user_errors():
            from huashu.train.evaluate import evaluate

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

    @app.command("distill")
    def distill_cmd(
        teacher: Annotated[Path, typer.Argument(help="A trained or released model directory.")],
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Run directory; the student goes to <out>/model.")
        ],
        layers: Annotated[int, typer.Option("--layers", help="Encoder layers the student keeps.")] = 3,
        epochs: Annotated[float, typer.Option("--epochs", help="Passes over the unlabelled text.")] = 3.0,
        max_docs: Annotated[
            int, typer.Option("--max-docs", help="Unlabelled HanCD articles used (0: all eligible).")
        ] = 0,
        heldout: Annotated[
            Path | None,
            typer.Option(
                "--heldout",
                help="Ids of gold articles neither model trained on (JSON lines with doc_id, or one id "
                "per line): teacher and student are compared on them. Default: the validation "
                "articles of the teacher's run (train_report.json next to it), if any.",
            ),
        ] = None,
        compare_only: Annotated[
            bool, typer.Option("--compare-only", help="Measure an existing <out>/model, do not train.")
        ] = False,
        max_minutes: Annotated[
            float, typer.Option("--max-minutes", help="Training time limit (0: none).")
        ] = 0.0,
    ) -> None:
        """Distil a shallower student from a model (unlabelled text, teacher logits) and compare the two."""
        with _user_errors():
            from huashu.train.distill import (
                DistillArguments,
                compare,
                compare_markdown,
                distill,
                read_ids,
                validation_ids,
            )

            ids = read_ids(heldout) if heldout else validation_ids(teacher)
            command = "huashu " + shlex.join(sys.argv[1:])
            if not compare_only:
                args = DistillArguments(layers=layers, epochs=epochs, max_docs=max_docs,
                                        max_train_minutes=max_minutes)
                distill(teacher, out, args, exclude_ids=set(ids), command=command)
            elif not (out / "model").is_dir():
                raise FileNotFoundError(
                    f"{out / 'model'}: no student to compare (run without --compare-only)")
            report = compare(teacher, out / "model", ids)
            report["command"] = command
            (out / "compare.json").write_text(
                json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            (out / "compare.md").write_text(compare_markdown(report, command), encoding="utf-8")
        typer.echo(json.dumps({
            "out": str(out),
            "engines": {k: {m: v.get(m) for m in ("chars_per_s", "speedup", "partial_f1", "f1_change",
                                                   "headline_accuracy", "meets_target")}
                        for k, v in report["engines"].items()},
        }, ensure_ascii=False, indent=2))

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
            from huashu.train.export import export

            sizes = tuple(int(x) for x in latency_sizes.split(",") if x.strip())
            result = export(
                model_dir, out or default_model_dir(), eval_summary, precision, bench_docs, sizes=sizes
            )
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
