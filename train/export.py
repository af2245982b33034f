"""`huashu export <run>/model`: the release model for fast CPU inference.

1. Trim the vocabulary to what character-level tokenisation can produce (special tokens, "▁",
   every single-character piece, every ASCII letter/digit piece): a Unigram segmentation of a
   pre-token only ever uses pieces made of its own characters, so the trimmed tokenizer segments
   every text exactly as before; :func:`check_tokenisation` proves it on the bench texts.
2. Measure each precision on the same articles: chars/s over whole articles, latency per article
   at 500 / 2,500 / 10,000 characters, and span agreement with fp32 (partial-overlap F1 of the
   precision's spans against fp32's). ``fp32`` eager, ``bf16`` autocast (AMX/AVX512-BF16),
   ``int8`` dynamic quantisation of the Linear layers, and ONNX Runtime (fp32 graph optimisations,
   int8 dynamic) when ``onnxruntime`` is installed.
3. Keep the fastest precision whose agreement with fp32 is ≥ 0.99 (≤ 0.01 F1 change); write the
   release directory (weights stored in bf16, ≤ 60 MB) with ``huashu_model.json`` and
   ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from huashu.inference import ONNX_FILES, ModelDetector, load_model, read_meta, save_model
from huashu.machine import machine
from huashu.metrics import choose_sources, span_scores
from huashu.spans import Document
from huashu.train.distill import engine_table, run_report_path
from huashu.train.speed import SIZES, bench_texts, measure

log = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99
MAX_RELEASE_MB = 60.0


# ---------------------------------------------------------------------------------------------
# vocabulary


def char_split_pieces(vocab: list[list[Any]], specials: set[str]) -> np.ndarray:
    """Old ids of the pieces character-level tokenisation can use (original order kept)."""
    scores = [float(s) for _, s in vocab]
    min_score = min(scores)
    keep = []
    anchor = False
    for i, (piece, score) in enumerate(vocab):
        ok = piece in specials or piece == "▁" or len(piece) == 1 or (piece.isascii() and piece.isalnum())
        if not ok and not anchor and float(score) == min_score:
            ok = True  # Unigram scores unknown characters relative to the lowest score: keep one
        if ok:
            anchor = anchor or float(score) == min_score
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def trim_vocabulary(net: Any, tokenizer: Any, work: Path) -> tuple[Any, Any, dict[str, int]]:
    """(net with a smaller embedding table, matching tokenizer, sizes)."""
    import torch
    from transformers import AutoTokenizer

    from huashu.inference import prepare_tokenizer
    from huashu.train.base import trim_tokenizer_json

    tok_dir = work / "tok"
    tokenizer.save_pretrained(tok_dir)
    tj = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if tj["model"]["type"] != "Unigram":
        log.warning(
            "vocabulary trimming supports Unigram tokenizers only: kept %s as is", tj["model"]["type"]
        )
        return net, tokenizer, {"before": len(tokenizer), "after": len(tokenizer)}
    specials = {t["content"] for t in tj.get("added_tokens", [])}
    kept = char_split_pieces(tj["model"]["vocab"], specials)
    (tok_dir / "tokenizer.json").write_text(
        json.dumps(trim_tokenizer_json(tj, kept), ensure_ascii=False), encoding="utf-8"
    )
    emb = net.encoder.get_input_embeddings()
    new = torch.nn.Embedding(len(kept), emb.embedding_dim, padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(emb.weight[torch.as_tensor(kept)])
    net.encoder.set_input_embeddings(new)
    net.encoder.config.vocab_size = len(kept)
    new_id = {int(old): i for i, old in enumerate(kept)}
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
        old = getattr(net.encoder.config, attr, None)
        if old is not None:
            setattr(net.encoder.config, attr, new_id.get(int(old)))
    trimmed = prepare_tokenizer(AutoTokenizer.from_pretrained(tok_dir))
    return net, trimmed, {"before": len(tj["model"]["vocab"]), "after": len(kept)}


def check_tokenisation(old_tok: Any, new_tok: Any, texts: list[str]) -> int:
    """Number of tokens (over all texts) whose piece or offsets differ after trimming."""
    from huashu.inference import encode_text

    bad = 0
    for t in texts:
        a, b = encode_text(old_tok, t), encode_text(new_tok, t)
        pa = old_tok.convert_ids_to_tokens(a.ids)
        pb = new_tok.convert_ids_to_tokens(b.ids)
        if pa != pb or a.offsets != b.offsets:
            bad += sum(
                1
                for x, y in zip(
                    zip(pa, a.offsets, strict=False), zip(pb, b.offsets, strict=False), strict=False
                )
                if x != y
            ) + abs(len(pa) - len(pb))
    return bad


# ---------------------------------------------------------------------------------------------
# ONNX


def export_onnx(model_dir: Path) -> list[Path]:
    """``model.onnx`` (fp32 graph) and ``model.int8.onnx`` (dynamic int8 MatMuls, VNNI) in ``model_dir``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    net, tok, _ = load_model(model_dir)
    net.eval()
    path = model_dir / "model.onnx"
    ids = torch.as_tensor([[tok.cls_token_id or 0] + [5] * 30 + [tok.sep_token_id or 2]] * 2)
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0  # a padded row, so the traced graph keeps the attention-mask path

    class Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return out["token_logits"], out["headline_logits"]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python booleans in the HF mask code
        torch.onnx.export(
            Wrapper(net),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["token_logits", "headline_logits"],
            dynamic_axes={
                "input_ids": {0: "b", 1: "t"},
                "attention_mask": {0: "b", 1: "t"},
                "token_logits": {0: "b", 1: "t"},
                "headline_logits": {0: "b"},
            },
            opset_version=17,
            dynamo=False,
        )
    q = model_dir / "model.int8.onnx"
    quantize_dynamic(str(path), str(q), weight_type=QuantType.QInt8)
    return [path, q]


# ---------------------------------------------------------------------------------------------
# measurement


def benchmark(
    model_dir: Path, docs: list[Document], precisions: list[str], sizes: tuple[int, ...] = SIZES
) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "cpu": machine()["cpu"],
        "docs": len(docs),
        "chars": sum(len(d.text) for d in docs),
    }
    ref = None
    for p in precisions:
        try:
            det = ModelDetector(model_dir, precision=p)
            det.label_sources = {}  # the network alone: rules do not depend on precision
            r = measure(det, docs, sizes=sizes)
        except (ImportError, FileNotFoundError, RuntimeError) as e:
            log.warning("precision %s unavailable: %s", p, e)
            out[p] = {"error": str(e)}
            continue
        preds = {d.id: s for d, s in zip(docs, r.pop("preds"), strict=True)}
        if ref is None:
            ref = preds
        sc = span_scores(ref, preds)
        r["agreement_partial_f1"] = (
            round(float(sc["micro"]["partial_f1"]), 4) if sc["micro"]["n_gold"] else 1.0
        )
        r["n_spans"] = sum(len(v) for v in preds.values())
        out[p] = r
        log.info("%s: %.0f chars/s, agreement with fp32 %.4f", p, r["chars_per_s"], r["agreement_partial_f1"])
    return out


def choose(bench: dict[str, Any], sizes_mb: dict[str, float] | None = None) -> str:
    """The fastest precision that agrees with fp32 (≥ MIN_AGREEMENT) and fits the size budget."""
    sizes_mb = sizes_mb or {}
    ok = {
        p: r
        for p, r in bench.items()
        if isinstance(r, dict)
        and "chars_per_s" in r
        and r["agreement_partial_f1"] >= MIN_AGREEMENT
        and sizes_mb.get(p, 0.0) <= MAX_RELEASE_MB
    }
    return max(ok, key=lambda p: ok[p]["chars_per_s"]) if ok else "fp32"


def release_sizes(stage: Path) -> dict[str, float]:
    """Size of a release directory holding only what each precision needs."""
    mb = {f.name: f.stat().st_size / 1e6 for f in stage.iterdir() if f.is_file()}
    onnx = set(ONNX_FILES.values())
    common = sum(
        v for k, v in mb.items() if k not in onnx and k not in ("model.safetensors", "heads.safetensors")
    )
    torch_mb = common + mb.get("model.safetensors", 0.0) + mb.get("heads.safetensors", 0.0)
    out = {p: torch_mb for p in ("fp32", "bf16", "int8")}
    out |= {p: common + mb[f] for p, f in ONNX_FILES.items() if f in mb}
    return out


# ---------------------------------------------------------------------------------------------
# release


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _sources_line(meta: dict[str, Any]) -> list[str]:
    src = meta.get("label_sources") or {}
    if not src:
        return []
    groups: dict[str, list[str]] = {}
    for label, s in src.items():
        groups.setdefault(s, []).append(label)
    parts = [f"{s} for {', '.join(labels)}" for s, labels in sorted(groups.items())]
    return [f"- **default detector**: {'; '.join(parts)}; the headline head for clickbait_title"]


def model_card(
    meta: dict[str, Any], bench: dict[str, Any], summary: dict[str, Any] | None, command: str
) -> str:
    lines = [
        f"# huashu model card: {meta['name']} ({meta['version']})",
        "",
        "Finds the rhetorical devices of `labels/taxonomy.yaml` in Chinese articles: per-label token heads "
        "(inside/begin, sigmoid; overlapping labels allowed) plus a headline clickbait head on one encoder.",
        "",
        "## How it was made",
        "",
        f"- base: `{meta['base']}` ({meta['layers']} layers), " + (
            f"distilled with `huashu distill` from {dist['name']} {dist['version']} ({dist['layers']} "
            f"layers; its layers {dist['layers_kept']} initialise this one) on {dist.get('articles', '?')} "
            f"unlabelled HanCD articles ({dist.get('chars', 0):,} chars) and {dist.get('headlines', '?')} "
            f"headlines, {dist.get('steps', '?')} steps in {dist.get('seconds', 0) / 60:.0f} min;"
            if (dist := meta.get("distilled_from")) else "fine-tuned with `huashu train`;")
        + f" vocabulary trimmed to {meta.get('vocab_size', '?')} pieces for character-level tokens",
        f"- trained on: {json.dumps(meta.get('trained_on', {}), ensure_ascii=False)}",
        f"- windows: {meta['max_length']} tokens, stride {meta['stride']}, merge `{meta['merge']}`;"
        " long articles are windowed, never truncated",
        f"- thresholds: {json.dumps(meta['thresholds'], ensure_ascii=False)}; headline "
        f"{meta.get('headline_threshold', 0.5)}",
        "- per-label source (model / rules / union): "
        f"{json.dumps(meta.get('label_sources') or {}, ensure_ascii=False)} "
        f"(chosen on: {meta.get('label_sources_from', '–')})",
        *([f"- not eligible (fragmenting: more than {MAX_SPAN_RATIO:g}× the gold span count on those "
           f"articles): {json.dumps(meta['validation']['disqualified'], ensure_ascii=False)}"]
          if (meta.get("validation") or {}).get("disqualified") else []),
        *([f"- distillation: `{meta['distilled_from']['command']}`"]
          if (meta.get("distilled_from") or {}).get("command") else []),
        f"- rebuild: `{command}`",
        *_sources_line(meta),
        "",
    ]
    if not meta.get("trained_on", {}).get("gold_docs"):
        lines += [
            "**No gold annotations existed when this model was trained**: it learned from the rules "
            "detector's output on HanCD articles (weak labels) and the HanCD headline labels only. Treat "
            "its span output as a smoothed copy of the rules until it is retrained on gold "
            "(`make model`).",
            "",
        ]
    if summary:
        s = summary["scores"]
        lines += [
            "## Cross-validated evaluation",
            "",
            f"`{summary['command']}` — {summary['data']['gold_docs']} gold articles, "
            f"{summary['data']['folds']} folds, {summary['machine']['cpu']}, {summary['date']}.",
            "",
            "| system | partial P | partial R | partial F1 | exact F1 |",
            "|---|---|---|---|---|",
        ]
        for name, sc in s.items():
            m = sc["micro"]
            lines.append(
                f"| {name} | {m['partial_p']:.3f} | {m['partial_r']:.3f} | {m['partial_f1']:.3f} "
                f"| {m['exact_f1']:.3f} |"
            )
        h = summary.get("headline", {})
        if "model" in h:
            lines += [
                "",
                f"Headline clickbait on {h['n_test']} held-out HanCD headlines: accuracy "
                f"{h['model']['accuracy']:.3f}, F1 {h['model']['f1']:.3f} (TF-IDF baseline accuracy "
                f"{h.get('tfidf', {}).get('accuracy', float('nan')):.3f}).",
            ]
        lines.append("")
    val = meta.get("validation")
    if val and not summary:
        labels = [k for k in val["partial_f1"]["model"] if k != "micro"] + ["micro"]
        lines += [
            (f"## The teacher's held-out validation ({val['articles']} gold articles it did not train on; "
             "the per-label sources were chosen on them)" if meta.get("distilled_from") else
             f"## Held-out validation ({val['articles']} gold articles the model did not train on)"),
            "",
            "Partial-overlap F1 (SemEval-2020 T11). The thresholds and the per-label choice were made on "
            "these same articles, so these figures are optimistic; `make model-eval` gives the "
            "cross-validated ones.",
            "",
            "| label | model | rules | union |",
            "|---|---|---|---|",
            *[
                f"| {lb} | {val['partial_f1']['model'][lb]:.3f} | {val['partial_f1']['rules'][lb]:.3f} "
                f"| {val['partial_f1']['union'][lb]:.3f} |"
                for lb in labels
            ],
            "",
        ]
        t = val.get("training") or {}
        if t:
            lines += [
                f"Training: {t['steps']} steps ({t['epochs']} epochs) in {t['seconds'] / 60:.1f} min on "
                f"{t['cpu']} ({t['threads']} threads), bf16 autocast; `train.max_train_minutes` stops a run "
                f"that would exceed its budget; kept: the {t['kept']}.",
                *_fit_line(t.get("fit") or {}),
                "",
            ]
        h = val.get("headline") or {}
        if h:
            lines += [
                f"Headline clickbait on {h['n']} held-out HanCD headlines: accuracy {h['accuracy']:.3f}, "
                f"precision {h['precision']:.3f}, recall {h['recall']:.3f}, F1 {h['f1']:.3f}.",
                "",
            ]
    lines += _distillation_lines(meta.get("distillation"))
    lines += [
        "## Speed (`huashu export`)",
        "",
        f"{bench.get('cpu', 'the export machine')}, {bench.get('threads')} threads; "
        f"{bench.get('docs')} articles, {bench.get('chars')} characters.",
        "",
        "| precision | chars/s | 500 / 2,500 / 10,000 chars (ms) | agreement with fp32 (partial F1) | MB |",
        "|---|---|---|---|---|",
    ]
    for p, r in bench.items():
        if isinstance(r, dict) and "chars_per_s" in r:
            lat = " / ".join(str(r["latency_ms"].get(str(k), "–")) for k in SIZES)
            lines.append(
                f"| {p} | {r['chars_per_s']:.0f} | {lat} | {r['agreement_partial_f1']:.4f} "
                f"| {r.get('release_mb', '–')} |"
            )
        elif isinstance(r, dict) and "error" in r:
            lines.append(f"| {p} | – | unavailable: {r['error'][:80]} | – | – |")
    lines += [
        "",
        f"Default precision: **{meta['precision']}** (the fastest whose spans agree with fp32 at partial F1 "
        f"≥ {MIN_AGREEMENT} and whose release fits {MAX_RELEASE_MB:.0f} MB).",
        "",
        "## Limits",
        "",
        "- Trained on Chinese news and self-media commentary; other genres are untested.",
        "- Devices are judgements: see `labels/guidelines.md` for what each label means.",
        "",
    ]
    return "\n".join(lines)


MAX_SPAN_RATIO = 3.0


def _distillation_lines(d: dict[str, Any] | None) -> list[str]:
    """The teacher-vs-student table of `huashu distill` (its compare.json), for a student's card."""
    if not d:
        return []
    lines = [
        "## Distilled student against its teacher (`huashu distill`)",
        "",
        f"`{d.get('command', 'huashu distill')}` on {d['machine']}. Speed: the network alone; span "
        f"partial-overlap micro F1 against gold on {d['heldout_articles']} held-out articles; headline "
        f"accuracy on {d['heldout_headlines']} held-out HanCD headlines. Changes are against the teacher "
        "in fp32.",
        "",
        *engine_table(d["engines"]),
    ]
    return [*lines, ""]


def distillation_summary(compare: dict[str, Any]) -> dict[str, Any]:
    """What a student's card keeps of `huashu distill`'s compare.json."""
    from huashu.machine import describe

    keys = ("chars_per_s", "speedup", "partial_f1", "f1_change", "headline_accuracy",
            "headline_accuracy_change", "span_agreement_with_teacher", "headline_agreement_with_teacher",
            "meets_target")
    return {
        "command": compare.get("command", "huashu distill"),
        "machine": describe(compare["machine"]),
        "heldout_articles": compare["heldout_articles"],
        "heldout_headlines": compare["heldout_headlines"],
        "engines": {k: {m: v[m] for m in keys if m in v} for k, v in compare["engines"].items()},
    }


def choose_on_validation(model_dir: Path, report_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Per-label model / rules / union choice on the validation articles of the run that made the
    model (``report_path``: :func:`run_report_path`), for a release trained without a CV report. The
    thresholds were tuned on the same articles, so the model's figures are optimistic."""
    from huashu.detector import load_detector
    from huashu.inference import _union
    from huashu.train.dataset import load_gold

    report = json.loads(report_path.read_text(encoding="utf-8"))
    ids = set(report["data"]["splits"]["validation"])
    gold = [e for e in load_gold() if e.doc.id in ids]
    if not gold:
        return {}, {}
    det = ModelDetector(model_dir, precision="fp32")
    docs = [e.doc for e in gold]
    model = det.detect_batch(docs, use_rules=False)
    rules = load_detector("rules").detect_batch(docs)
    g = {e.doc.id: e.spans for e in gold}
    preds = {
        "model": {d.id: p for d, p in zip(docs, model, strict=True)},
        "rules": {d.id: p for d, p in zip(docs, rules, strict=True)},
        "union": {d.id: sorted(_union(m + r)) for d, m, r in zip(docs, model, rules, strict=True)},
    }
    scores = {k: span_scores(g, v, det.labels) for k, v in preds.items()}
    # Partial-overlap F1 credits fragments: a head that paints a label as dozens of 1–2 character
    # pieces can "win" while being useless to a reader. A source that predicts more than
    # MAX_SPAN_RATIO × the gold span count of a label on these articles is not eligible for it.
    n_gold = {lb: sum(1 for spans in g.values() for s in spans if s.label == lb) for lb in det.labels}
    n_pred = {k: {lb: sum(1 for spans in v.values() for s in spans if s.label == lb) for lb in det.labels}
              for k, v in preds.items()}
    # Among the eligible sources, the per-label choice that maximises the pooled micro partial
    # F1 (one chooser with `huashu eval`: `huashu.metrics.choose_sources`), starting from the rules.
    allowed, disqualified = {}, {}
    for label in det.labels:
        limit = MAX_SPAN_RATIO * max(n_gold[label], 1)
        allowed[label] = [k for k in ("rules", "model", "union") if k == "rules" or n_pred[k][label] <= limit]
        for k in sorted(set(preds) - set(allowed[label])):
            disqualified.setdefault(label, []).append(
                f"{k} ({n_pred[k][label]} spans vs {n_gold[label]} gold)")
    ordered = {k: scores[k] for k in ("rules", "model", "union")}  # ties keep the rules
    choice, _ = choose_sources(ordered, det.labels, allowed)
    table: dict[str, Any] = {
        "articles": len(gold),
        "partial_f1": {
            k: {lb: round(float(v[lb]["partial_f1"]), 3) for lb in [*det.labels, "micro"]}
            for k, v in scores.items()
        },
    }
    table["disqualified"] = disqualified
    table["headline"] = held_out_headlines(det, report)
    epochs = max((h.get("epoch", 0) for h in report.get("history", [])), default=0)
    table["training"] = {
        "seconds": report["train_seconds"],
        "steps": report["steps"],
        "epochs": round(epochs, 2),
        "cpu": report["machine"]["cpu"],
        "threads": report["machine"]["torch_threads"],
        "kept": report.get("kept", "best checkpoint by validation loss"),  # older runs always reloaded it
        "fit": report.get("training_fit") or {},
    }
    return choice, table


def _fit_line(fit: dict[str, Any]) -> list[str]:
    if not fit:
        return []
    return [
        f"Span partial F1 on {fit['articles']} of its own training articles, at its thresholds (far above "
        "the validation figure: overfitting; close to it and low: underfitting): "
        f"{fit['partial_f1']:.3f} (P {fit['partial_p']:.3f}, R {fit['partial_r']:.3f})."
    ]


def held_out_headlines(det: ModelDetector, report: dict[str, Any]) -> dict[str, Any]:
    """Headline clickbait accuracy on the HanCD headlines the run held out (same hash split)."""
    from huashu.metrics import binary_scores
    from huashu.train.dataset import DatasetArguments, headline_split, headlines_from, load_hancd

    try:
        docs = load_hancd()
    except FileNotFoundError:
        return {}
    args = DatasetArguments(**report["config"]["data"])
    _, test = headline_split(headlines_from(docs), args.headline_test_fraction)
    if not test:
        return {}
    probs = det.clickbait_probabilities([h.text for h in test])
    out = binary_scores([h.label for h in test], [int(p >= det.headline_threshold) for p in probs])
    return {k: (int(v) if k == "n" else round(float(v), 4)) for k, v in out.items()}


def export(
    model_dir: Path,
    out: Path,
    eval_summary: Path | None = None,
    precision: str = "auto",
    bench_docs: int = 12,
    command: str = "make model",
    sizes: tuple[int, ...] = SIZES,
) -> dict[str, Any]:
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    summary = json.loads(Path(eval_summary).read_text(encoding="utf-8")) if eval_summary else None
    net, tokenizer, _ = load_model(model_dir)
    docs = bench_texts(bench_docs)
    with tempfile.TemporaryDirectory(prefix="huashu-export-") as tmp:
        work = Path(tmp)
        old_tok = tokenizer
        net, tokenizer, vocab = trim_vocabulary(net, tokenizer, work)
        mismatches = check_tokenisation(old_tok, tokenizer, [d.text for d in docs])
        if mismatches:
            raise ValueError(f"vocabulary trimming changed {mismatches} token(s) on the bench texts")
        meta = {**meta, "vocab_size": vocab["after"]}
        if summary and summary.get("label_sources"):
            meta["label_sources"] = summary["label_sources"]
            meta["label_sources_from"] = "cross-validation (huashu eval)"
            meta["eval"] = {k: summary["scores"][k]["micro"] for k in summary["scores"]}
        elif report_path := run_report_path(model_dir, meta):
            choice, table = choose_on_validation(model_dir, report_path)
            if choice:
                meta["label_sources"] = choice
                meta["label_sources_from"] = (
                    f"validation split of the training run ({table['articles']} articles)"
                )
                meta["validation"] = table
        compare_json = model_dir.parent / "compare.json"
        if meta.get("distilled_from") and compare_json.exists():
            meta["distillation"] = distillation_summary(json.loads(compare_json.read_text(encoding="utf-8")))
        meta.pop("format", None)
        stage = work / "release"
        save_model(net, tokenizer, stage, meta, dtype="bf16")
        precisions = ["fp32", "bf16", "int8"]
        if precision in ("auto", *ONNX_FILES):
            try:
                export_onnx(stage)
                precisions += list(ONNX_FILES)
            except ImportError as e:
                log.warning("ONNX not measured (%s): pip install onnxruntime onnx", e)
            except Exception as e:  # the exporter is optional; say why and go on
                log.warning("ONNX export failed: %s", e)
        bench = benchmark(stage, docs, precisions if precision == "auto" else ["fp32", precision], sizes)
        sizes_mb = release_sizes(stage)
        for p, r in bench.items():
            if isinstance(r, dict) and p in sizes_mb:
                r["release_mb"] = round(sizes_mb[p], 1)
        chosen = choose(bench, sizes_mb) if precision == "auto" else precision
        for p, f in ONNX_FILES.items():
            if p != chosen and (stage / f).exists():
                (stage / f).unlink()
        dropped_torch = False
        if chosen in ONNX_FILES and dir_mb(stage) > MAX_RELEASE_MB:
            # the graph holds the weights: drop the torch copy rather than exceed the size budget
            for f in ("model.safetensors", "heads.safetensors"):
                (stage / f).unlink()
            dropped_torch = True
        meta_path = stage / "huashu_model.json"
        saved = json.loads(meta_path.read_text(encoding="utf-8"))
        saved["precision"] = chosen
        saved["precisions_available"] = (
            [chosen]
            if dropped_torch
            else ["fp32", "bf16", "int8"] + ([chosen] if chosen in ONNX_FILES else [])
        )
        saved["benchmark"] = bench
        meta_path.write_text(json.dumps(saved, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (stage / "MODEL_CARD.md").write_text(model_card(saved, bench, summary, command), encoding="utf-8")
        size = dir_mb(stage)
        if size > MAX_RELEASE_MB:
            log.warning("release model is %.1f MB (> %.0f MB)", size, MAX_RELEASE_MB)
        out = Path(out)
        if out.exists():
            backup = out.with_name(out.name + ".old")
            shutil.rmtree(backup, ignore_errors=True)
            out.rename(backup)
            shutil.copytree(stage, out)
            shutil.rmtree(backup)
        else:
            shutil.copytree(stage, out)
    return {
        "out": str(out),
        "precision": chosen,
        "size_mb": round(size, 1),
        "vocab": vocab,
        "bench": {
            p: {k: v for k, v in r.items() if k != "preds"} if isinstance(r, dict) else r
            for p, r in bench.items()
        },
    }
