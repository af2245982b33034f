"""Experiment: a frozen encoder's features (+ optional rule features) under a small BiLSTM tagger.

Why: fine-tuning the encoder end to end on ~100 gold articles within the CPU budget learns almost
nothing (3-fold CV partial micro-F1 0.03, train/reports/cv3). Extracting features once (12 layers of
e5-small-zh, layers 4/8/12 concatenated, bf16 autocast) and training only a light head lets the head
see many more epochs in the same time. This script measures that with the same folds (``kfold``),
decoding (``decode_spans``), metric (``span_scores``) and learning-curve subsets (``subset_ids``) as
``huashu eval``, next to the rules detector and the TF-IDF baseline on the same test articles.

Run (2-core CPU: ~3 min of features, cached in ``--cache``; then ~17 min per setting at 25 epochs
and 5 folds, 1.5-4 min per learning-curve point)::

    .venv/bin/python -m huashu.train.experiments.frozen_head --epochs 25 --rules both \\
        --curve 10 25 50 --out train/reports/frozen-head

``--out`` gets ``summary.json`` and ``report.md`` (no article text), rewritten after every run so
an interrupted experiment keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from huashu.detector import load_detector
from huashu.inference import (
    Encoded,
    _union,
    char_targets,
    decode_spans,
    encode_text,
    merge_windows,
    prepare_tokenizer,
    windows,
    with_specials,
)
from huashu.log import setup_logging
from huashu.machine import describe, machine
from huashu.metrics import choose_sources, span_scores
from huashu.train.base import resolve_base
from huashu.train.baselines import TfidfClauseTagger
from huashu.train.dataset import kfold, load_gold, span_labels, subset_ids

log = logging.getLogger("huashu.experiments.frozen_head")
LAYERS = (4, 8, 12)
CACHE_VERSION = 3  # 3: features only, keyed by (doc id, text sha256, base)


def features(cache: Path, base: str) -> list[dict[str, Any]]:
    """Per gold document: token features, targets, rule hits and spans, offsets, gold spans.

    Only the encoder's features are cached, keyed by (document id, sha256 of its text, base):
    targets, rule hits and gold spans are rebuilt from the current gold on every run, so new or
    corrected annotations are always used, and only new texts are encoded."""
    store: dict[tuple[str, str, str], dict[str, Any]] = {}
    if cache.exists():
        try:
            with open(cache, "rb") as f:
                cached = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError) as e:
            log.warning("feature cache %s unreadable (%s): rebuilding", cache, e)
            cached = None
        if isinstance(cached, dict) and cached.get("version") == CACHE_VERSION:
            store = cached["store"]
        elif cached is not None:
            log.info("feature cache %s is from an older version: rebuilding", cache)
    from tqdm import tqdm

    gold = load_gold()
    rules = load_detector("rules")
    labels = span_labels()
    missing = [ex for ex in gold if (ex.doc.id, ex.doc.sha256, base) not in store]
    if missing:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = resolve_base(base)
        tok = prepare_tokenizer(AutoTokenizer.from_pretrained(path))
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False).eval()
        for ex in tqdm(missing, desc="features"):
            enc = encode_text(tok, ex.doc.text)
            ws = windows(len(enc), 256, 64)
            outs = []
            for a, b in ws:
                ids = torch.tensor([with_specials(tok, enc.ids[a:b])])
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                    hs = encoder(input_ids=ids, output_hidden_states=True).hidden_states
                outs.append(torch.cat([hs[i][0, 1:-1].float() for i in LAYERS], -1).numpy())
            store[(ex.doc.id, ex.doc.sha256, base)] = {
                "feats": merge_windows(len(enc), ws, outs, "mean").astype(np.float16),
                "offsets": enc.offsets,
            }
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"version": CACHE_VERSION, "store": store}, f)
        tmp.replace(cache)
    log.info("features: %d gold documents, %d encoded now, %d from the cache",
             len(gold), len(missing), len(gold) - len(missing))
    data = []
    for ex in gold:
        hit = store[(ex.doc.id, ex.doc.sha256, base)]
        enc = Encoded([0] * len(hit["offsets"]), hit["offsets"])
        rule_spans = [s for s in rules.detect(ex.doc) if s.label in labels]
        data.append({
            "id": ex.doc.id,
            "doc": ex.doc,
            "feats": hit["feats"],
            "y": char_targets(enc, ex.spans, labels),
            "r": char_targets(enc, rule_spans, labels)[:, : len(labels)],
            "rule_spans": rule_spans,
            "offsets": hit["offsets"],
            "spans": ex.spans,
        })
    return data


def train_head(by_id: dict[str, dict[str, Any]], train_ids: list[str], use_rules: bool, epochs: int,
               seed: int, bar: Any = None) -> Any:
    """Train the BiLSTM head on the cached features of ``train_ids``; returns the head (eval mode)."""
    import torch

    n_labels = len(span_labels())

    class Head(torch.nn.Module):
        def __init__(self, d_in: int, hidden: int = 128) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(d_in + (n_labels if use_rules else 0), 256)
            self.drop = torch.nn.Dropout(0.3)
            self.lstm = torch.nn.LSTM(256, hidden, batch_first=True, bidirectional=True)
            self.out = torch.nn.Linear(2 * hidden, 2 * n_labels)

        def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            if use_rules:
                x = torch.cat([x, r], -1)
            h, _ = self.lstm(self.drop(torch.relu(self.proj(self.drop(x)))))
            return self.out(self.drop(h))

    torch.manual_seed(seed)
    head = Head(by_id[train_ids[0]]["feats"].shape[1])
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=0.01)
    chunks = [_tensors(by_id[i], a, a + 512) for i in train_ids for a in range(0, len(by_id[i]["y"]), 512)]
    y_all = np.concatenate([by_id[i]["y"] for i in train_ids])
    pos = y_all.sum(0) + 1
    pos_weight = torch.tensor(np.clip(((len(y_all) - pos) / pos) ** 0.5, 1, 30), dtype=torch.float32)
    rng = np.random.default_rng(seed)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(epochs):
        head.train()
        for j in rng.permutation(len(chunks)):
            x, r, y = chunks[j]
            loss = bce(head(x, r), y, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if bar is not None:
            bar.update()
    return head.eval()


def _tensors(d: dict[str, Any], a: int = 0, b: int | None = None) -> tuple[Any, ...]:
    import torch

    return tuple(torch.tensor(d[k][a:b], dtype=torch.float32)[None] for k in ("feats", "r", "y"))


def probabilities(head: Any, d: dict[str, Any]) -> np.ndarray:
    import torch

    x, r, _ = _tensors(d)
    with torch.no_grad():
        return torch.sigmoid(head(x, r))[0].numpy()


def cross_validate(data: list[dict[str, Any]], use_rules: bool, epochs: int, folds: int,
                   threshold: float, seed: int = 13, n_train: int = 0,
                   sensitivity: tuple[float, ...] = ()) -> dict[str, Any]:
    """Pooled span scores over the k test folds for the head, the head ∪ rules, the rules and
    TF-IDF (fitted on the same training articles). ``n_train`` > 0 trains on that many of each
    fold's training articles (the learning curve; test folds unchanged). ``sensitivity``: the
    head's micro scores at other global thresholds (chosen on the test folds: not a result)."""
    from tqdm import tqdm

    labels = span_labels()
    by_id = {d["id"]: d for d in data}
    gold = {i: by_id[i]["spans"] for i in by_id}
    pred: dict[str, dict[str, Any]] = {"head": {}, "head+rules": {}, "rules": {}, "tfidf": {}}
    probs: dict[str, np.ndarray] = {}
    sizes = []
    bar = tqdm(total=folds * epochs, desc=f"rules {'on' if use_rules else 'off'}, n={n_train or 'all'}",
               unit="epoch")
    for train_ids, test_ids in kfold(list(by_id), folds, seed):
        if n_train:
            train_ids = subset_ids(train_ids, n_train, seed)
        sizes.append(len(train_ids))
        head = train_head(by_id, train_ids, use_rules, epochs, seed, bar)
        tf = TfidfClauseTagger(labels, seed=seed).fit(
            [by_id[i]["doc"] for i in train_ids], [by_id[i]["spans"] for i in train_ids])
        for i, spans in zip(test_ids, tf.detect_batch([by_id[i]["doc"] for i in test_ids]), strict=True):
            pred["tfidf"][i] = spans
        for i in test_ids:
            probs[i] = probabilities(head, by_id[i])
            pred["head"][i] = decode_spans(probs[i], by_id[i]["offsets"], labels,
                                           {lb: threshold for lb in labels})
            pred["rules"][i] = by_id[i]["rule_spans"]
            pred["head+rules"][i] = sorted(_union(pred["head"][i] + by_id[i]["rule_spans"]))
    bar.close()
    out: dict[str, Any] = {name: span_scores(gold, p, labels) for name, p in pred.items()}
    out["train_articles_per_fold"] = sizes
    out["head_at_threshold"] = {
        str(t): span_scores(gold, {
            i: decode_spans(probs[i], by_id[i]["offsets"], labels, {lb: t for lb in labels}) for i in probs
        }, labels)["micro"]
        for t in sensitivity
    }
    return out


def _sizes(run: dict[str, Any]) -> str:
    n = run["scores"]["train_articles_per_fold"]
    return str(n[0]) if min(n) == max(n) else f"{min(n)}–{max(n)}"


def markdown(s: dict[str, Any]) -> str:
    lines = [
        "# Experiment: frozen e5-small-zh features under a BiLSTM head",
        "",
        f"- command: `{s['command']}`",
        f"- data: {s['data']}",
        f"- machine: {describe(s['machine'])}",
        f"- date: {s['date']}; feature extraction {s['feature_seconds']:.0f} s (or cached)",
        f"- method: layers {', '.join(map(str, LAYERS))} of the frozen encoder (bf16 autocast), "
        "BiLSTM head, per-label begin/inside sigmoids, threshold "
        f"{s['threshold']}; {s['folds']}-fold CV by article with `huashu eval`'s folds and metric "
        "(SemEval-2020 T11 partial overlap, pooled over folds); rules and TF-IDF on the same test "
        "articles, TF-IDF fitted on the same training articles.",
        "",
        "## Runs (partial micro-F1; P / R for the head)",
        "",
        "| rule features | epochs | train articles / fold | head P / R / **F1** | head ∪ rules | rules | "
        "tfidf | exact F1 (head) | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["runs"]:
        h = r["scores"]["head"]["micro"]
        lines.append(
            f"| {'on' if r['rule_features'] else 'off'} | {r['epochs']} | {_sizes(r)} | "
            f"{h['partial_p']:.2f} / {h['partial_r']:.2f} / **{h['partial_f1']:.3f}** | "
            f"{r['scores']['head+rules']['micro']['partial_f1']:.3f} | "
            f"{r['scores']['rules']['micro']['partial_f1']:.3f} | "
            f"{r['scores']['tfidf']['micro']['partial_f1']:.3f} | {h['exact_f1']:.3f} | {r['seconds']:.0f} |"
        )
    full = [r for r in s["runs"] if not r["n_train"]]
    if full:
        best = max(full, key=lambda r: r["scores"]["head"]["micro"]["partial_f1"])
        lines += [
            "",
            f"## Per label, best full run (rule features {'on' if best['rule_features'] else 'off'}, "
            f"{best['epochs']} epochs): partial F1",
            "",
            "| label | gold | head P / R / F1 | rules F1 | tfidf F1 | head ∪ rules F1 |",
            "|---|---|---|---|---|---|",
        ]
        sc = best["scores"]
        for lb in [k for k in sc["head"] if k not in ("micro", "macro")] + ["micro", "macro"]:
            h = sc["head"][lb]
            lines.append(
                f"| {lb} | {h['n_gold']} | {h['partial_p']:.2f} / {h['partial_r']:.2f} / "
                f"**{h['partial_f1']:.2f}** | {sc['rules'][lb]['partial_f1']:.2f} | "
                f"{sc['tfidf'][lb]['partial_f1']:.2f} | {sc['head+rules'][lb]['partial_f1']:.2f} |"
            )
        labels = [k for k in sc["head"] if k not in ("micro", "macro")]
        choice, f1 = choose_sources({k: sc[k] for k in ("head", "rules", "head+rules", "tfidf")}, labels)
        lines += [
            "",
            "Per-label best source on these folds (optimistic: chosen where it is scored): "
            + ", ".join(f"{lb} {src}" for lb, src in choice.items())
            + f"; combined partial micro-F1 **{f1:.3f}** "
            f"(rules alone {best['scores']['rules']['micro']['partial_f1']:.3f}).",
        ]
    sens = [r for r in s["runs"] if r["scores"].get("head_at_threshold")]
    if sens:
        ts = list(sens[0]["scores"]["head_at_threshold"])
        lines += [
            "",
            "## Threshold sensitivity of the head (partial micro-F1; one global threshold, read off the "
            "test folds: shows how much calibration is left, not a held-out result)",
            "",
            "| rule features | epochs | train articles / fold | " + " | ".join(f"t={t}" for t in ts) + " |",
            "|---|---|---|" + "---|" * len(ts),
        ]
        for r in sens:
            at = r["scores"]["head_at_threshold"]
            lines.append(
                f"| {'on' if r['rule_features'] else 'off'} | {r['epochs']} | {_sizes(r)} | "
                + " | ".join(
                    f"{at[t]['partial_f1']:.3f} (P {at[t]['partial_p']:.2f})" for t in ts) + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="e5-small-zh")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/huashu/experiments/frozen_feats.pkl")
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 25])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--rules", choices=["off", "on", "both"], default="both")
    ap.add_argument("--curve", type=int, nargs="*", default=[],
                    help="learning curve: training articles per fold (rule features off, last --epochs)")
    ap.add_argument("--sensitivity", type=float, nargs="*", default=[0.3, 0.5, 0.7, 0.8, 0.9],
                    help="also report the head at these global thresholds (picked on test folds)")
    ap.add_argument("--out", type=Path, help="write summary.json and report.md here")
    ap.add_argument("--render", type=Path, metavar="DIR",
                    help="only rewrite DIR/report.md from DIR/summary.json (no training)")
    a = ap.parse_args()
    setup_logging()
    if a.render:
        summary = json.loads((a.render / "summary.json").read_text(encoding="utf-8"))
        (a.render / "report.md").write_text(markdown(summary), encoding="utf-8")
        return
    import torch

    torch.set_num_threads(2)
    t0 = time.monotonic()
    data = features(a.cache, a.base)
    summary: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "huashu.train.experiments.frozen_head", *sys.argv[1:]]),
        "data": f"{len(data)} gold articles (labels/annotations), {sum(len(d['spans']) for d in data)} spans",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "feature_seconds": time.monotonic() - t0,
        "threshold": a.threshold,
        "folds": a.folds,
        "runs": [],
    }
    # rule features off first, then its learning curve, then rule features on
    plan = [(False, e, 0) for e in a.epochs] if a.rules in ("off", "both") else []
    plan += [(False, a.epochs[-1], n) for n in a.curve]
    plan += [(True, e, 0) for e in a.epochs] if a.rules in ("on", "both") else []
    for use_rules, epochs, n in plan:
        t1 = time.monotonic()
        scores = cross_validate(data, use_rules, epochs, a.folds, a.threshold, n_train=n,
                                sensitivity=tuple(a.sensitivity))
        s = scores["head"]["micro"]
        log.info("rule features %s, %d epochs, %s train articles/fold: head partial micro P/R/F1 "
                 "%.2f/%.2f/%.3f (exact %.3f); head+rules %.3f, rules %.3f, tfidf %.3f (%.0f s)",
                 "on" if use_rules else "off", epochs, n or "all", s["partial_p"], s["partial_r"],
                 s["partial_f1"], s["exact_f1"], scores["head+rules"]["micro"]["partial_f1"],
                 scores["rules"]["micro"]["partial_f1"], scores["tfidf"]["micro"]["partial_f1"],
                 time.monotonic() - t1)
        summary["runs"].append({"rule_features": use_rules, "epochs": epochs, "n_train": n,
                                "seconds": round(time.monotonic() - t1, 1), "scores": scores})
        summary["machine"] = machine()
        if a.out:
            a.out.mkdir(parents=True, exist_ok=True)
            (a.out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
            (a.out / "report.md").write_text(markdown(summary), encoding="utf-8")


if __name__ == "__main__":
    main()
