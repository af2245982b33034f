"""`huashu eval --config …`: cross-validated span metrics against baselines, headline clickbait,
false alarms on plain reports, a learning curve. Writes ``report.md``, ``summary.json`` (no article
text: safe to commit) and ``report.json`` (with texts and predictions, for
notebooks/error_analysis.ipynb; stays in the run directory because HanCD text must not be
committed).

Every span figure is on articles the model did not train on: k folds by article
(``cv.folds``); in each fold the model, the rules detector and the TF-IDF baseline see the same
training articles (rules need none) and are scored on the same test articles. A per-label
"model / rules / union" choice maximises the pooled cross-validated micro partial F1
(``label_sources``, ``huashu.metrics.choose_sources``), which ``huashu export`` can record in the
release model.
"""

from __future__ import annotations

import copy
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from huashu.inference import ModelDetector, _union
from huashu.machine import describe
from huashu.metrics import binary_scores, choose_sources, false_alarm_density, span_scores
from huashu.spans import Document, Span
from huashu.train.baselines import TfidfClauseTagger, TfidfHeadline
from huashu.train.dataset import Corpus, headline_split, kfold, load_corpus, split_by_article, subset_ids
from huashu.train.train import Config, config_dict, machine, train_model

log = logging.getLogger(__name__)

SYSTEMS = ("model", "rules", "tfidf", "model+rules")


def _rules() -> Any | None:
    try:
        from huashu.detector import load_detector

        return load_detector("rules")
    except Exception as e:  # the rules detector is another step's; evaluation goes on without it
        log.warning("rules detector unavailable (%s): its column stays empty", e)
        return None


def _fit_tfidf(corpus: Corpus, ids: Sequence[str], seed: int) -> TfidfClauseTagger:
    by_id = corpus.by_id()
    ex = [by_id[i] for i in ids]
    return TfidfClauseTagger(corpus.labels, seed=seed).fit([e.doc for e in ex], [e.spans for e in ex])


def _train_fold(
    cfg: Config, corpus: Corpus, out_dir: Path, train_ids: list[str], test_ids: list[str], progress: bool
) -> tuple[ModelDetector, dict[str, Any]]:
    inner = split_by_article(train_ids, cfg.data.seed, cfg.data.validation_fraction, 0.0)
    report = train_model(
        cfg, corpus, out_dir, inner["train"], inner["validation"], test_ids, progress=progress
    )
    det = ModelDetector(report["model_dir"], precision="fp32", batch_size=cfg.inference.batch_size)
    return det, report


def _combine(model: list[Span], rules: list[Span], sources: dict[str, str]) -> list[Span]:
    keep = [s for s in model if sources.get(s.label, "model") in ("model", "union")]
    keep += [s for s in rules if sources.get(s.label, "model") in ("rules", "union")]
    return sorted(_union(keep))


def _table(scores: dict[str, dict[str, dict[str, float]]], labels: Sequence[str], key: str) -> list[str]:
    systems = [s for s in SYSTEMS if s in scores]
    head = "| label | gold | " + " | ".join(f"{s} P / R / F1" for s in systems) + " |"
    lines = [head, "|" + "---|" * (2 + len(systems))]
    for label in [*labels, "micro", "macro"]:
        row = [f"**{label}**" if label in ("micro", "macro") else label]
        ref = scores[systems[0]].get(label, {})
        row.append(str(ref.get("n_gold", 0)))
        for s in systems:
            sc = scores[s].get(label)
            if not sc:
                row.append("–")
                continue
            row.append(f"{sc[f'{key}_p']:.2f} / {sc[f'{key}_r']:.2f} / **{sc[f'{key}_f1']:.2f}**")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def evaluate(
    cfg: Config,
    corpus: Corpus | None = None,
    out_dir: Path | None = None,
    train_model_too: bool | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Cross-validate; write the reports to ``out_dir`` (default ``<run dir>/eval``)."""
    t_start = time.monotonic()
    corpus = corpus or load_corpus(cfg.data)
    out_dir = Path(out_dir) if out_dir else cfg.out_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    use_model = cfg.cv.model if train_model_too is None else train_model_too
    labels = corpus.labels
    ids = corpus.gold_ids
    by_id = corpus.by_id()
    folds = kfold(ids, cfg.cv.folds, cfg.cv.seed)
    rules = _rules()
    preds: dict[str, dict[str, list[Span]]] = {s: {} for s in SYSTEMS}
    fold_rows: list[dict[str, Any]] = []
    headline_rows: list[dict[str, Any]] = []
    calib: list[tuple[str, float, float]] = []
    curve: list[dict[str, Any]] = []
    gold = {i: by_id[i].spans for i in ids}
    h_train, h_test = headline_split(corpus.headlines, cfg.data.headline_test_fraction)
    # the headline test set must not contain a headline a fold trained on: it is fixed across folds
    for k, (train_ids, test_ids) in enumerate(folds):
        log.info("fold %d/%d: %d train, %d test articles", k + 1, len(folds), len(train_ids), len(test_ids))
        docs = [by_id[i].doc for i in test_ids]
        tf = _fit_tfidf(corpus, train_ids, cfg.cv.seed)
        for i, spans in zip(test_ids, tf.detect_batch(docs), strict=True):
            preds["tfidf"][i] = spans
        if rules is not None:
            for i, spans in zip(test_ids, rules.detect_batch(docs), strict=True):
                preds["rules"][i] = spans
        row: dict[str, Any] = {"fold": k, "train": len(train_ids), "test": len(test_ids)}
        if use_model:
            det, rep = _train_fold(cfg, corpus, out_dir / f"fold-{k}", train_ids, test_ids, progress)
            row["train_seconds"] = rep["train_seconds"]
            row["steps"] = rep["steps"]
            for i, spans in zip(test_ids, det.detect_batch(docs, use_rules=False), strict=True):
                preds["model"][i] = spans
                preds["model+rules"][i] = sorted(_union(spans + preds["rules"].get(i, [])))
                for s in spans:
                    hit = sum(
                        max(0, min(s.end, g.end) - max(s.start, g.start))
                        for g in gold[i]
                        if g.label == s.label
                    ) / (s.end - s.start)
                    calib.append((s.label, s.score, hit))
            if h_test:
                probs = det.clickbait_probabilities([h.text for h in h_test])
                y = [h.label for h in h_test]
                hs = binary_scores(y, [int(p >= det.headline_threshold) for p in probs])
                headline_rows.append({"fold": k, **hs, "probs": [round(p, 4) for p in probs]})
        for name in SYSTEMS:
            sub = {i: preds[name].get(i, []) for i in test_ids}
            if (name in ("model", "model+rules") and not use_model) or (name == "rules" and rules is None):
                continue
            row[name] = span_scores({i: gold[i] for i in test_ids}, sub, labels)["micro"]["partial_f1"]
        fold_rows.append(row)
        if k < cfg.cv.curve_folds:
            for n in cfg.cv.curve:
                if n >= len(train_ids):
                    continue
                sub_ids = subset_ids(train_ids, n, cfg.cv.seed)
                point: dict[str, Any] = {"fold": k, "n_train": n}
                tf_n = _fit_tfidf(corpus, sub_ids, cfg.cv.seed)
                p_tf = dict(zip(test_ids, tf_n.detect_batch(docs), strict=True))
                point["tfidf"] = span_scores({i: gold[i] for i in test_ids}, p_tf, labels)["micro"][
                    "partial_f1"
                ]
                if use_model:
                    det_n, _ = _train_fold(
                        cfg, corpus, out_dir / f"fold-{k}-n{n}", sub_ids, test_ids, progress
                    )
                    p_m = dict(zip(test_ids, det_n.detect_batch(docs, use_rules=False), strict=True))
                    point["model"] = span_scores({i: gold[i] for i in test_ids}, p_m, labels)["micro"][
                        "partial_f1"
                    ]
                curve.append(point)
            point = {"fold": k, "n_train": len(train_ids), "tfidf": row["tfidf"]}
            if use_model:
                point["model"] = row["model"]
            curve.append(point)
    systems = [
        s
        for s in SYSTEMS
        if (use_model or s not in ("model", "model+rules"))
        and (rules is not None or s not in ("rules", "model+rules"))
    ]
    scores = {s: span_scores(gold, {i: preds[s].get(i, []) for i in ids}, labels) for s in systems}
    # per-label choice of model / rules / union that maximises the pooled cross-validated micro F1
    label_sources: dict[str, str] = {}
    if use_model and rules is not None:
        label_sources, _ = choose_sources(
            {"model": scores["model"], "rules": scores["rules"], "union": scores["model+rules"]}, labels
        )
        combined = {
            i: _combine(preds["model"].get(i, []), preds["rules"].get(i, []), label_sources) for i in ids
        }
        scores["combined"] = span_scores(gold, combined, labels)
    # false alarms on documents with no gold span (plain reports)
    plain = {i: len(by_id[i].doc.text) for i in ids if not gold[i]}
    false_alarms = {s: false_alarm_density({i: preds[s].get(i, []) for i in plain}, plain) for s in systems}
    # headline baselines on the same held-out headlines
    headline: dict[str, Any] = {
        "n_test": len(h_test),
        "n_train": len(h_train),
        "test_positive": sum(h.label for h in h_test),
    }
    if h_test and h_train and len({h.label for h in h_train}) == 2:
        tfh = TfidfHeadline(seed=cfg.cv.seed).fit([h.text for h in h_train], [h.label for h in h_train])
        y = [h.label for h in h_test]
        headline["tfidf"] = binary_scores(
            y, [int(p >= 0.5) for p in tfh.predict_proba([h.text for h in h_test])]
        )
        if rules is not None:
            head_label = next((lb.id for lb in _taxonomy_labels() if lb.span_level == "headline"), None)
            docs = [
                Document(id=f"h{j}", text=h.text, title=h.text, meta={"title_span": [0, len(h.text)]})
                for j, h in enumerate(h_test)
            ]
            rp = [int(any(s.label == head_label for s in spans)) for spans in rules.detect_batch(docs)]
            headline["rules"] = binary_scores(y, rp)
    if headline_rows:
        keys = ("accuracy", "precision", "recall", "f1")
        headline["model"] = {k: float(np.mean([r[k] for r in headline_rows])) for k in keys}
        headline["model"]["n"] = headline_rows[0]["n"]
        headline["model_folds"] = [{k: r[k] for k in ("fold", *keys)} for r in headline_rows]
    seconds = time.monotonic() - t_start
    summary = {
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "config": config_dict(cfg),
        "machine": machine(),
        "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "data": {
            "gold_docs": len(ids),
            "gold_spans": sum(len(v) for v in gold.values()),
            "plain_docs": len(plain),
            "weak_docs": len(corpus.weak) if cfg.data.weak else 0,
            "corpora": sorted({e.corpus for e in corpus.gold}),
            "folds": cfg.cv.folds,
            "gold_by_label": {lb: sum(1 for v in gold.values() for s in v if s.label == lb) for lb in labels},
        },
        "labels": labels,
        "scores": scores,
        "folds": fold_rows,
        "headline": headline,
        "false_alarms_per_1k_chars": false_alarms,
        "learning_curve": curve,
        "label_sources": label_sources,
    }
    (out_dir / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    full = copy.deepcopy(summary)
    full["calibration"] = [{"label": lb, "score": round(sc, 4), "hit": round(h, 4)} for lb, sc, h in calib]
    full["headline_predictions"] = [
        {"text": h.text, "label": h.label, **{f"fold{r['fold']}": r["probs"][j] for r in headline_rows}}
        for j, h in enumerate(h_test)
    ]
    full["documents"] = [
        {
            "id": i,
            "text": by_id[i].doc.text,
            "gold": [s.to_dict() for s in gold[i]],
            "pred": {s: [p.to_dict() for p in preds[s].get(i, [])] for s in systems},
        }
        for i in ids
    ]
    (out_dir / "report.json").write_text(json.dumps(full, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(summary), encoding="utf-8")
    log.info("evaluation: %.0f s → %s", seconds, out_dir)
    return summary


def _taxonomy_labels() -> Any:
    from huashu.taxonomy import load_taxonomy

    return load_taxonomy().labels


def markdown(s: dict[str, Any]) -> str:
    m = s["machine"]
    d = s["data"]
    lines = [
        f"# Evaluation: {s['config']['name']}",
        "",
        f"- command: `{s['command']}`",
        f"- data: {d['gold_docs']} gold articles ({', '.join(d['corpora']) or '–'}), "
        f"{d['gold_spans']} spans, "
        f"{d['plain_docs']} with no span; {d['weak_docs']} weak (rules-labelled) articles in training; "
        f"{d['folds']}-fold cross-validation by article",
        f"- machine: {describe(m)}",
        f"- date: {s['date']}; wall time {s['seconds']:.0f} s; base `{s['config']['base']}`",
        "",
        "## Spans: SemEval-2020 T11 partial overlap (pooled over folds)",
        "",
        *_table(s["scores"], s["labels"], "partial"),
        "",
        "## Spans: exact match",
        "",
        *_table(s["scores"], s["labels"], "exact"),
        "",
    ]
    if "combined" in s["scores"]:
        c = s["scores"]["combined"]
        lines += [
            "## Default detector (per-label choice from this cross-validation)",
            "",
            "| label | source |",
            "|---|---|",
            *[f"| {lb} | {src} |" for lb, src in s["label_sources"].items()],
            "",
            f"Combined partial micro-F1 **{c['micro']['partial_f1']:.3f}**, macro "
            f"{c['macro']['partial_f1']:.3f} (the choice is made on the same folds it is scored on: "
            "optimistic).",
            "",
        ]
    lines += [
        "## Per fold (partial micro-F1)",
        "",
        "| fold | train | test | "
        + " | ".join(k for k in SYSTEMS if any(k in r for r in s["folds"]))
        + " | train s |",
        "|" + "---|" * (4 + sum(1 for k in SYSTEMS if any(k in r for r in s["folds"]))),
    ]
    for r in s["folds"]:
        vals = [f"{r[k]:.3f}" for k in SYSTEMS if k in r]
        lines.append(
            f"| {r['fold']} | {r['train']} | {r['test']} | "
            + " | ".join(vals)
            + f" | {r.get('train_seconds', '–')} |"
        )
    h = s["headline"]
    lines += [
        "",
        f"## Headline clickbait (held-out HanCD headlines: {h['n_test']}, "
        f"{h['test_positive']} clickbait; trained on {h['n_train']})",
        "",
        "| system | accuracy | precision | recall | F1 |",
        "|---|---|---|---|---|",
    ]
    for name in ("model", "tfidf", "rules"):
        if name in h:
            x = h[name]
            lines.append(
                f"| {name} | {x['accuracy']:.3f} | {x['precision']:.3f} | {x['recall']:.3f} | {x['f1']:.3f} |"
            )
    lines += [
        "",
        f"## False alarms on articles with no gold span ({d['plain_docs']} articles)",
        "",
        "| system | devices per 1,000 chars |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in s["false_alarms_per_1k_chars"].items()],
        "",
    ]
    if s["learning_curve"]:
        lines += [
            "## Learning curve (partial micro-F1 on the same test fold)",
            "",
            "| fold | gold articles | model | tfidf |",
            "|---|---|---|---|",
        ]
        for p in s["learning_curve"]:
            model = f"{p['model']:.3f}" if "model" in p else "–"
            lines.append(f"| {p['fold']} | {p['n_train']} | {model} | {p['tfidf']:.3f} |")
        lines.append("")
    return "\n".join(lines) + "\n"
