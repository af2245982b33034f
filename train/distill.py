"""`huashu distill <teacher dir> --out <run dir>`: a shallower student of a trained model.

Between train and export. The student is the teacher with fewer encoder layers (initialised from
evenly spread teacher layers, the first and last included; DistilBERT style) trained to reproduce
the teacher's outputs: the per-token inside/begin logits and the headline logits (mean squared
error on logits). It learns from unlabelled text only: HanCD articles that are neither gold nor
held-out headlines, in the same windows and character-level tokens as inference. No gold span is
used, so the student approximates the teacher and nothing else.

:func:`compare` then measures teacher and student side by side on what neither trained on: speed on
the bench articles (the network alone, as ``huashu export`` measures it), span partial-overlap F1
against gold on held-out articles, and headline accuracy on the held-out HanCD headlines. The
issue's bar for a fast export is ≥ 4× the teacher's fp32 throughput at ≤ 0.01 F1 loss.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from huashu.inference import (
    ModelDetector,
    encode_text,
    load_model,
    read_meta,
    save_model,
    windows,
    with_specials,
)
from huashu.machine import describe, machine
from huashu.train.speed import bench_texts, measure

log = logging.getLogger(__name__)

MIN_SPEEDUP = 4.0
MAX_F1_LOSS = 0.01


@dataclass
class DistillArguments:
    layers: int = 3
    epochs: float = 3.0
    lr: float = 1e-4
    batch_size: int = 16
    headline_weight: float = 1.0
    max_docs: int = 0  # unlabelled articles used (0: all eligible)
    seed: int = 13
    bf16: bool = True  # bf16 autocast for the student's training steps (AMX)
    max_train_minutes: float = 0.0
    headline_test_fraction: float = 0.2


def pick_layers(n: int, k: int) -> list[int]:
    """``k`` of ``n`` layer indices, evenly spread, first and last included."""
    if not 1 <= k <= n:
        raise ValueError(f"a student needs 1..{n} layers (the teacher has {n}), not {k}")
    if k == 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def make_student(teacher: Any, layers: int) -> tuple[Any, list[int]]:
    """A copy of the teacher keeping ``layers`` of its encoder layers (heads copied as they are)."""
    from torch import nn

    student = copy.deepcopy(teacher)
    n = student.encoder.config.num_hidden_layers
    keep = pick_layers(n, layers)
    student.encoder.encoder.layer = nn.ModuleList([student.encoder.encoder.layer[i] for i in keep])
    student.encoder.config.num_hidden_layers = len(keep)
    return student, keep


# ---------------------------------------------------------------------------------------------
# data: unlabelled windows and headlines with the teacher's logits


def read_ids(path: Path) -> list[str]:
    """Document ids from a file: JSON lines with ``doc_id`` (a batch selection list) or one id per
    line."""
    ids = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                ids.append(str(json.loads(line)["doc_id"]))
            except (ValueError, KeyError):
                raise ValueError(f"{path}:{n}: a JSON line needs a doc_id") from None
        else:
            ids.append(line)
    return ids


def run_report_path(model_dir: Path, meta: dict[str, Any]) -> Path | None:
    """The ``train_report.json`` of the run that made a model: next to it, or for a distilled
    student next to its teacher (the student trained on no gold, so the teacher's validation
    articles are held out for both)."""
    dirs = [Path(model_dir)]
    if (meta.get("distilled_from") or {}).get("dir"):
        dirs.append(Path(meta["distilled_from"]["dir"]))
    found = [d.parent / "train_report.json" for d in dirs if (d.parent / "train_report.json").exists()]
    return found[0] if found else None


def validation_ids(teacher_dir: Path) -> list[str]:
    """The gold articles a trained teacher held out (its run's ``train_report.json``), else []."""
    path = run_report_path(Path(teacher_dir), read_meta(Path(teacher_dir)))
    if path is None:
        log.warning("no --heldout and no train_report.json next to %s: teacher and student are compared "
                    "on speed and headlines only", teacher_dir)
        return []
    return list(json.loads(path.read_text(encoding="utf-8"))["data"]["splits"]["validation"])


def unlabelled_texts(
    exclude_ids: set[str], headline_test_fraction: float, max_docs: int, seed: int
) -> tuple[list[str], list[str]]:
    """(article texts, headlines) for distillation: HanCD articles that are not gold and whose
    headline is not held out for evaluation."""
    from huashu.train.dataset import headline_split, headlines_from, load_hancd, shuffled

    docs = [d for d in load_hancd() if d.id not in exclude_ids]
    _, test = headline_split(headlines_from(docs), headline_test_fraction)
    held = {h.doc_id for h in test}
    docs = shuffled([d for d in docs if d.id not in held], seed)
    if max_docs:
        docs = docs[:max_docs]
    titles = [h.text for h in headlines_from(docs)]
    log.info("distillation text: %d articles (%d chars), %d headlines", len(docs),
             sum(len(d.text) for d in docs), len(titles))
    return [d.text for d in docs], titles


def teacher_rows(
    teacher: Any, tokenizer: Any, texts: list[str], titles: list[str], max_length: int, stride: int,
    batch_size: int = 16, progress: bool = True,
) -> list[dict[str, np.ndarray]]:
    """One row per window (and per headline): input ids and the teacher's fp32 logits."""
    import torch
    from tqdm.auto import tqdm

    seqs: list[list[int]] = []
    for text in texts:
        enc = encode_text(tokenizer, text)
        seqs += [with_specials(tokenizer, enc.ids[a:b]) for a, b in windows(len(enc), max_length, stride)]
    for title in titles:
        seqs.append(with_specials(tokenizer, encode_text(tokenizer, title).ids[: max_length - 2]))
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]), reverse=True)
    pad = tokenizer.pad_token_id or 0
    rows: list[dict[str, np.ndarray]] = [{} for _ in seqs]
    teacher.eval()
    with torch.inference_mode():
        for k in tqdm(range(0, len(order), batch_size), desc="teacher", disable=not progress):
            chunk = order[k : k + batch_size]
            width = len(seqs[chunk[0]])
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, i in enumerate(chunk):
                ids[r, : len(seqs[i])] = torch.as_tensor(seqs[i])
                mask[r, : len(seqs[i])] = 1
            out = teacher(input_ids=ids, attention_mask=mask)
            for r, i in enumerate(chunk):
                n = len(seqs[i])
                rows[i] = {
                    "input_ids": np.asarray(seqs[i], dtype=np.int64),
                    "teacher_token": out["token_logits"][r, :n].float().numpy().astype(np.float16),
                    "teacher_headline": out["headline_logits"][r].float().numpy(),
                }
    return rows


class _Rows:
    """A map-style dataset over precomputed rows (the Trainer only needs ``len`` and indexing)."""

    def __init__(self, rows: list[dict[str, np.ndarray]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.rows[i]


def _collate(pad_id: int):
    import torch

    def collate(rows: list[dict[str, np.ndarray]]) -> dict[str, Any]:
        T = max(len(r["input_ids"]) for r in rows)
        width = rows[0]["teacher_token"].shape[1]
        ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        tok = torch.zeros((len(rows), T, width), dtype=torch.float32)
        head = torch.stack([torch.as_tensor(r["teacher_headline"]) for r in rows])
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"])
            mask[i, :n] = 1
            tok[i, :n] = torch.as_tensor(r["teacher_token"].astype(np.float32))
        return {"input_ids": ids, "attention_mask": mask, "teacher_token": tok, "teacher_headline": head}

    return collate


def _trainer_class():
    import torch
    from transformers import Trainer

    class DistillTrainer(Trainer):
        def __init__(self, *args: Any, headline_weight: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.headline_weight = headline_weight

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            t_tok = inputs.pop("teacher_token")
            t_head = inputs.pop("teacher_headline")
            out = model(**inputs)
            mask = inputs["attention_mask"].bool()
            loss = torch.nn.functional.mse_loss(out["token_logits"][mask].float(), t_tok[mask])
            loss = loss + self.headline_weight * torch.nn.functional.mse_loss(
                out["headline_logits"].float(), t_head
            )
            return (loss, out) if return_outputs else loss

    return DistillTrainer


# ---------------------------------------------------------------------------------------------
# distil


def distill(
    teacher_dir: Path,
    out_dir: Path,
    args: DistillArguments,
    exclude_ids: set[str] | None = None,
    texts: tuple[list[str], list[str]] | None = None,
    progress: bool = True,
    command: str = "huashu distill",
) -> dict[str, Any]:
    """Train a student of ``teacher_dir``; save it to ``out_dir/model``; return the report.

    ``texts`` (article texts, headlines) replaces the HanCD selection (tests)."""
    import torch
    from transformers import TrainingArguments

    from huashu.train.dataset import load_gold
    from huashu.train.train import _time_limit_callback

    t0 = time.monotonic()
    torch.manual_seed(args.seed)
    teacher, tokenizer, meta = load_model(Path(teacher_dir))
    n_teacher = teacher.encoder.config.num_hidden_layers
    student, keep = make_student(teacher, args.layers)
    if texts is None:
        gold = {e.doc.id for e in load_gold()}
        texts = unlabelled_texts(gold | (exclude_ids or set()), args.headline_test_fraction,
                                 args.max_docs, args.seed)
    bodies, titles = texts
    if not bodies and not titles:
        raise ValueError("no text to distil on (is the HanCD corpus there? see huashu.paths)")
    ml, stride = int(meta.get("max_length", 256)), int(meta.get("stride", 64))
    rows = teacher_rows(teacher, tokenizer, bodies, titles, ml, stride, progress=progress)
    teacher_seconds = time.monotonic() - t0
    del teacher
    student.train()
    targs = TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        learning_rate=args.lr,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        warmup_steps=0.05,
        weight_decay=0.01,
        seed=args.seed,
        data_seed=args.seed,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=20,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=not progress,
        bf16=args.bf16,
        use_cpu=True,
    )
    trainer = _trainer_class()(
        model=student,
        args=targs,
        train_dataset=_Rows(rows),
        data_collator=_collate(tokenizer.pad_token_id or 0),
        callbacks=[_time_limit_callback(args.max_train_minutes)],
        headline_weight=args.headline_weight,
    )
    result = trainer.train()
    student = trainer.model.eval()
    seconds = time.monotonic() - t0
    info = {
        "command": command,
        "teacher": {"dir": str(teacher_dir), "name": meta.get("name"), "version": meta.get("version"),
                    "layers": n_teacher},
        "layers_kept": keep,
        "arguments": asdict(args),
        "articles": len(bodies),
        "chars": sum(len(t) for t in bodies),
        "headlines": len(titles),
        "rows": len(rows),
        "steps": result.global_step,
        "final_loss": round(float(result.training_loss), 5),
        "teacher_seconds": round(teacher_seconds, 1),
        "seconds": round(seconds, 1),
        "machine": machine(),
    }
    smeta = {
        k: v for k, v in meta.items()
        if k not in ("format", "benchmark", "precisions_available", "weights_dtype")
    }
    smeta |= {
        "name": f"{meta.get('name', 'model')}-student{len(keep)}",
        "version": time.strftime("%Y%m%d-%H%M%S"),
        "layers": len(keep),
        "precision": "fp32",
        "distilled_from": info["teacher"] | {
            "layers_kept": keep,
            **{k: info[k] for k in ("articles", "chars", "headlines", "steps", "seconds")},
            "command": command,
        },
    }
    if meta.get("label_sources_from"):
        smeta["label_sources_from"] = f"the teacher's: {meta['label_sources_from']}"
    save_model(student, tokenizer, out_dir / "model", smeta, "fp32")
    (out_dir / "distill_report.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n",
                                                 encoding="utf-8")
    log.info("student (%d of %d layers: %s) trained %d steps in %.0f s → %s", len(keep), n_teacher, keep,
             result.global_step, seconds, out_dir / "model")
    return info


# ---------------------------------------------------------------------------------------------
# compare teacher and student


def _engine_figures(
    model_dir: Path, precision: str, bench_docs: list[Any], gold: list[Any], headlines: list[Any]
) -> dict[str, Any]:
    from huashu.metrics import binary_scores, span_scores

    det = ModelDetector(model_dir, precision=precision)
    det.label_sources = {}  # the network alone
    speed = measure(det, bench_docs, repeats=3)
    speed.pop("preds")
    out: dict[str, Any] = {"chars_per_s": speed["chars_per_s"], "latency_ms": speed["latency_ms"]}
    if gold:
        preds = det.detect_batch([e.doc for e in gold], use_rules=False)
        out["_preds"] = {e.doc.id: p for e, p in zip(gold, preds, strict=True)}
        sc = span_scores({e.doc.id: e.spans for e in gold},
                         {e.doc.id: p for e, p in zip(gold, preds, strict=True)}, det.labels)
        out["partial_f1"] = round(float(sc["micro"]["partial_f1"]), 4)
        out["exact_f1"] = round(float(sc["micro"]["exact_f1"]), 4)
        out["per_label_partial_f1"] = {lb: round(float(sc[lb]["partial_f1"]), 4) for lb in det.labels}
        out["n_spans"] = sum(len(p) for p in preds)
    if headlines:
        probs = det.clickbait_probabilities([h.text for h in headlines])
        hs = binary_scores([h.label for h in headlines], [int(p >= det.headline_threshold) for p in probs])
        out["_headline"] = [int(p >= det.headline_threshold) for p in probs]
        out["headline_accuracy"] = round(float(hs["accuracy"]), 4)
        out["headline_f1"] = round(float(hs["f1"]), 4)
    return out


def compare(
    teacher_dir: Path,
    student_dir: Path,
    heldout_ids: list[str],
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    bench_n: int = 12,
    headline_test_fraction: float = 0.2,
) -> dict[str, Any]:
    """Teacher and student at each precision on the same articles; speed-up and F1 change are
    relative to the teacher in fp32."""
    import torch  # noqa: F401  (imported before machine(): the report names torch and its threads)

    from huashu.train.dataset import headline_split, headlines_from, load_gold, load_hancd

    wanted = set(heldout_ids)
    gold = [e for e in load_gold() if e.doc.id in wanted]
    missing = wanted - {e.doc.id for e in gold}
    if missing:
        log.warning("%d held-out id(s) have no gold record: %s", len(missing),
                    ", ".join(sorted(missing))[:300])
    try:
        _, headlines = headline_split(headlines_from(load_hancd()), headline_test_fraction)
    except FileNotFoundError:
        headlines = []
    docs = bench_texts(bench_n)
    report: dict[str, Any] = {
        "machine": machine(),
        "bench": {"docs": len(docs), "chars": sum(len(d.text) for d in docs)},
        "heldout_articles": len(gold),
        "heldout_spans": sum(len(e.spans) for e in gold),
        "heldout_headlines": len(headlines),
        "engines": {},
    }
    for who, d in (("teacher", teacher_dir), ("student", student_dir)):
        for p in precisions:
            log.info("measuring %s %s", who, p)
            report["engines"][f"{who} {p}"] = _engine_figures(Path(d), p, docs, gold, headlines)
    from huashu.metrics import span_scores

    ref = report["engines"][f"teacher {precisions[0]}"]
    for r in report["engines"].values():
        if "_preds" in ref:  # how closely the engine reproduces the teacher's own spans and decisions
            sc = span_scores(ref["_preds"], r["_preds"])["micro"]
            r["span_agreement_with_teacher"] = round(float(sc["partial_f1"]), 4) if sc["n_gold"] else 1.0
        if "_headline" in ref:
            same = sum(a == b for a, b in zip(ref["_headline"], r["_headline"], strict=True))
            r["headline_agreement_with_teacher"] = round(same / max(1, len(ref["_headline"])), 4)
    for r in report["engines"].values():
        r.pop("_preds", None)
        r.pop("_headline", None)
        r["speedup"] = round(r["chars_per_s"] / ref["chars_per_s"], 2)
        if "partial_f1" in ref:
            r["f1_change"] = round(r["partial_f1"] - ref["partial_f1"], 4)
        if "headline_accuracy" in ref:
            r["headline_accuracy_change"] = round(r["headline_accuracy"] - ref["headline_accuracy"], 4)
        r["meets_target"] = bool(
            r["speedup"] >= MIN_SPEEDUP
            and r.get("f1_change", 0.0) >= -MAX_F1_LOSS
            and r.get("headline_accuracy_change", 0.0) >= -MAX_F1_LOSS
        )
    return report


def engine_table(engines: dict[str, dict[str, Any]], detail: bool = False) -> list[str]:
    """Markdown rows for teacher and student engines (the compare report and a student's card);
    ``detail`` adds latency, exact F1 and the target verdict."""
    head = ["engine", "chars/s", "speed-up"] + (["ms @500 / 2,500 / 10,000"] if detail else [])
    head += ["span partial F1 (Δ)"] + (["exact F1"] if detail else [])
    head += ["headline accuracy (Δ)", "agreement with teacher fp32: spans / headlines"]
    head += ["meets target"] if detail else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in engines.items():
        cells = [name, f"{r['chars_per_s']:,.0f}", f"{r['speedup']:.2f}×"]
        if detail:
            cells.append(" / ".join(f"{v:.0f}" for v in r["latency_ms"].values()))
        cells.append(f"{r['partial_f1']:.3f} ({r['f1_change']:+.3f})" if "partial_f1" in r else "–")
        if detail:
            cells.append(f"{r['exact_f1']:.3f}" if "exact_f1" in r else "–")
        cells.append(f"{r['headline_accuracy']:.3f} ({r['headline_accuracy_change']:+.3f})"
                     if "headline_accuracy" in r else "–")
        cells.append(" / ".join(f"{r[k]:.3f}" if k in r else "–"
                                for k in ("span_agreement_with_teacher", "headline_agreement_with_teacher")))
        if detail:
            cells.append("yes" if r["meets_target"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def compare_markdown(report: dict[str, Any], command: str) -> str:
    lines = [
        "# Teacher and distilled student",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {describe(report['machine'])}. "
        f"Speed: the network alone on {report['bench']['docs']} bench articles "
        f"({report['bench']['chars']:,} chars). Spans: partial-overlap micro F1 against gold on "
        f"{report['heldout_articles']} held-out articles ({report['heldout_spans']} spans) neither model "
        f"trained on; headlines: accuracy on {report['heldout_headlines']} held-out HanCD headlines. "
        f"Target: ≥ {MIN_SPEEDUP:g}× the teacher's fp32 throughput at ≤ {MAX_F1_LOSS} F1 loss.",
        "",
        *engine_table(report["engines"], detail=True),
    ]
    return "\n".join(lines) + "\n"
