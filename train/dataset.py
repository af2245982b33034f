"""`huashu dataset`: gold standoff annotations (+ weak labels, + HanCD headlines) → windows.

Data flow: ``labels/annotations/*.jsonl`` (one gold record per document, via
``huashu.annotations.training_records``) → documents resolved from their corpus (sha256-checked)
→ character-level tokens with offsets (``huashu.inference.encode_text``) → per-label inside/begin
targets → sliding windows (``max_length``/``stride``; every token in at least one window) →
a ``datasets.DatasetDict``:

- ``train`` / ``validation`` / ``test``: gold documents split **by article** (a document's windows
  are all in one split), deterministic given ``seed`` (hash order of the document ids);
- ``weak``: rules-detector output on HanCD articles that have no gold record: extra training
  signal, switchable, never in ``validation``/``test``;
- ``headline_train`` / ``headline_test``: HanCD headlines with their clickbait labels (plus gold
  documents' headlines, labelled by their ``clickbait_title`` span), held out deterministically by
  a hash of the headline text.

Rows: ``input_ids`` (with special tokens), ``token_labels`` (``[len(input_ids)][2 * n_labels]``
inside/begin, specials all -100; empty for headline rows), ``headline_label`` (0/1, -100 for
span rows), ``doc_id``, ``kind`` ("span" | "headline"), ``weak``, ``start``/``end`` (token window).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from huashu.annotations import AnnotationRecord, read_records, training_records
from huashu.inference import char_targets, encode_text, title_of, windows, with_specials
from huashu.paths import annotations_dir, hancd_dir, labels_dir
from huashu.spans import Document, Span, validate_spans
from huashu.taxonomy import load_taxonomy

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test", "weak", "headline_train", "headline_test")


@dataclass
class DatasetArguments:
    """Arguments of `huashu dataset` (and the `data:` section of a training config)."""

    annotations: str = field(
        default="", metadata={"help": "standoff annotations dir (default labels/annotations)"}
    )
    hancd: str = field(default="", metadata={"help": "HanCD corpus dir (default huashu.paths.hancd_dir())"})
    max_length: int = field(default=256, metadata={"help": "tokens per window, special tokens included"})
    stride: int = field(default=64, metadata={"help": "tokens shared by consecutive windows"})
    seed: int = field(default=13, metadata={"help": "split seed (splits are by article)"})
    validation_fraction: float = field(default=0.1, metadata={"help": "gold articles for validation"})
    test_fraction: float = field(default=0.2, metadata={"help": "gold articles for test"})
    weak: bool = field(default=True, metadata={"help": "build the weak split (rules on unlabelled HanCD)"})
    weak_max_docs: int = field(default=0, metadata={"help": "cap on weak articles (0 = all)"})
    headline_test_fraction: float = field(default=0.2, metadata={"help": "HanCD headlines held out"})
    headline_max: int = field(default=0, metadata={"help": "cap on HanCD headlines (0 = all)"})


@dataclass
class Example:
    """One article with its spans (gold, or weak labels from the rules)."""

    doc: Document
    spans: list[Span]
    corpus: str = ""


@dataclass
class Headline:
    text: str
    label: int
    doc_id: str


# ---------------------------------------------------------------------------------------------
# labels


def span_labels() -> list[str]:
    """Labels of the token heads: taxonomy labels marked at span level, in taxonomy order."""
    return [lb.id for lb in load_taxonomy().labels if lb.span_level != "headline"]


def headline_label() -> str | None:
    heads = [lb.id for lb in load_taxonomy().labels if lb.span_level == "headline"]
    return heads[0] if heads else None


# ---------------------------------------------------------------------------------------------
# sources


def annotation_files(directory: Path) -> list[Path]:
    """Standoff record files (``*.jsonl``); batch selection lists (``*.selection.jsonl``) are not
    annotation records and are skipped."""
    return [p for p in sorted(directory.glob("*.jsonl")) if not p.name.endswith(".selection.jsonl")]


def load_gold(directory: Path | None = None) -> list[Example]:
    """Gold examples: one training record per document, its text resolved and checked.

    A record whose text cannot be resolved or whose spans break the contract is an error naming
    the record (never silently dropped)."""
    from huashu.corpus import resolve_record

    directory = Path(directory) if directory else annotations_dir()
    records: list[AnnotationRecord] = []
    for path in annotation_files(directory):
        records.extend(read_records(path))
    chosen = training_records(records)
    skipped = {(r.corpus, r.doc_id) for r in records} - {(r.corpus, r.doc_id) for r in chosen}
    if skipped:
        log.warning(
            "%d document(s) have several annotators and no gold record (adjudicate them): %s",
            len(skipped),
            ", ".join(sorted(f"{c}/{d}" for c, d in skipped))[:500],
        )
    labels = set(load_taxonomy().ids)
    out = []
    for r in chosen:
        doc = resolve_record(r)
        validate_spans(doc.text, r.spans, labels, where=f"{r.corpus}/{r.doc_id} ({r.annotator})")
        out.append(Example(doc, sorted(r.spans), r.corpus))
    log.info("gold: %d documents, %d spans from %s", len(out), sum(len(e.spans) for e in out), directory)
    return out


def _splits(path: Path | None = None) -> dict[str, Any]:
    path = path or labels_dir() / "splits.yaml"
    if not path.exists():
        log.warning("%s not found: no frozen test split, every gold article may be trained on", path)
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not isinstance(data.get("test") or {}, dict):
        raise ValueError(f"{path}: expected a mapping with test: {{group: [document ids]}}")
    return data


def test_split_ids(path: Path | None = None) -> set[str]:
    """The frozen test articles (``test:`` in labels/splits.yaml): never trained on, tuned on or
    read for errors; `huashu eval` scores them once per release."""
    out: set[str] = set()
    for ids in (_splits(path).get("test") or {}).values():
        out.update(str(i) for i in ids or [])
    return out


def rules_dev_ids(path: Path | None = None) -> set[str]:
    """Articles the rules were revised on (``rules_dev`` in labels/splits.yaml): the rules' scores
    there are training scores, so per-label source choices are made on the other articles."""
    return {str(i) for i in _splits(path).get("rules_dev") or []}


def load_hancd(directory: Path | None = None) -> list[Document]:
    """HanCD articles as ingested documents (title line + body, ``meta['clickbait_label']``)."""
    from huashu.ingest import ingest_file

    directory = Path(directory) if directory else hancd_dir()
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no HanCD csv files in {directory}")
    docs: list[Document] = []
    for path in files:
        docs.extend(ingest_file(path))
    return docs


def _key(seed: int, s: str) -> str:
    return hashlib.sha256(f"{seed}:{s}".encode()).hexdigest()


def headlines_from(
    docs: Iterable[Document], gold: Sequence[Example] = (), head_label: str | None = None
) -> list[Headline]:
    """Headlines with labels: HanCD ``clickbait_label`` and gold documents (label 1 when a
    ``clickbait_title`` span covers the title)."""
    out: list[Headline] = []
    for d in docs:
        ts = title_of(d)
        if ts and "clickbait_label" in d.meta:
            out.append(Headline(d.text[ts[0] : ts[1]], int(d.meta["clickbait_label"]), d.id))
    for ex in gold:
        ts = title_of(ex.doc)
        if ts and head_label:
            pos = any(s.label == head_label and s.start < ts[1] and s.end > ts[0] for s in ex.spans)
            out.append(Headline(ex.doc.text[ts[0] : ts[1]], int(pos), ex.doc.id))
    return out


def weak_examples(
    docs: Sequence[Document], exclude: Iterable[Example], max_docs: int = 0, seed: int = 13
) -> list[Example]:
    """Rules-detector spans on documents that have no gold record (matched by id, title or text)."""
    from huashu.detector import load_detector

    gold = list(exclude)
    ids = {e.doc.id for e in gold}
    hashes = {e.doc.sha256 for e in gold}
    titles = {e.doc.text[slice(*title_of(e.doc))] for e in gold if title_of(e.doc)}
    pool = [
        d
        for d in docs
        if d.id not in ids
        and d.sha256 not in hashes
        and not (title_of(d) and d.text[slice(*title_of(d))] in titles)
    ]
    pool.sort(key=lambda d: _key(seed, d.id))
    if max_docs:
        pool = pool[:max_docs]
    rules = load_detector("rules")
    head = headline_label()
    out = []
    for d, spans in zip(pool, rules.detect_batch(pool), strict=True):
        out.append(Example(d, [s for s in spans if s.label != head], "weak"))
    log.info("weak: %d documents, %d rule spans", len(out), sum(len(e.spans) for e in out))
    return out


# ---------------------------------------------------------------------------------------------
# splits


def split_by_article(
    doc_ids: Sequence[str], seed: int, validation: float, test: float
) -> dict[str, list[str]]:
    """Deterministic article split: order by sha256(seed:id), cut test, then validation."""
    if len(set(doc_ids)) != len(doc_ids):
        raise ValueError("duplicate document ids")
    order = sorted(doc_ids, key=lambda d: _key(seed, d))
    n = len(order)
    n_test = round(n * test)
    n_val = round(n * validation)
    if n >= 3:
        n_test = max(n_test, 1) if test > 0 else 0
        n_val = max(n_val, 1) if validation > 0 else 0
    return {
        "test": sorted(order[:n_test]),
        "validation": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def kfold(doc_ids: Sequence[str], k: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """k folds by article: (train ids, test ids); every article is tested exactly once."""
    if k < 2 or k > len(doc_ids):
        raise ValueError(f"cannot make {k} folds from {len(doc_ids)} articles")
    order = sorted(doc_ids, key=lambda d: _key(seed, d))
    folds = [order[i::k] for i in range(k)]
    return [(sorted(x for j, f in enumerate(folds) if j != i for x in f), sorted(folds[i])) for i in range(k)]


def subset_ids(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """The learning curve's n training articles out of ``ids`` (deterministic given the seed, and
    nested: the 10 are among the 25)."""
    return sorted(sorted(ids, key=lambda d: hashlib.sha256(f"curve{seed}:{d}".encode()).hexdigest())[:n])


def headline_split(items: Sequence[Headline], test_fraction: float) -> tuple[list[Headline], list[Headline]]:
    """Hold out headlines by a hash of their text (stable as the corpus grows; duplicates of one
    headline land on the same side)."""
    train, test = [], []
    for h in items:
        bucket = int(hashlib.sha256(h.text.strip().encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if bucket < test_fraction else train).append(h)
    return train, test


# ---------------------------------------------------------------------------------------------
# rows


def span_rows(
    examples: Iterable[Example],
    tokenizer: Any,
    labels: Sequence[str],
    max_length: int,
    stride: int,
    weak: bool = False,
) -> list[dict[str, Any]]:
    rows = []
    width = 2 * len(labels)
    ignore = [-100] * width
    for ex in examples:
        enc = encode_text(tokenizer, ex.doc.text)
        y = char_targets(enc, ex.spans, labels)
        for a, b in windows(len(enc), max_length, stride):
            rows.append(
                {
                    "input_ids": with_specials(tokenizer, enc.ids[a:b]),
                    "token_labels": [ignore, *y[a:b].tolist(), ignore],
                    "headline_label": -100,
                    "doc_id": ex.doc.id,
                    "kind": "span",
                    "weak": weak,
                    "start": a,
                    "end": b,
                }
            )
    return rows


def headline_rows(items: Iterable[Headline], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    rows = []
    for h in items:
        enc = encode_text(tokenizer, h.text)
        if len(enc) > max_length - 2:
            log.warning(
                "headline of %s longer than %d tokens: its head sees the first %d",
                h.doc_id,
                max_length - 2,
                max_length - 2,
            )
        rows.append(
            {
                "input_ids": with_specials(tokenizer, enc.ids[: max_length - 2]),
                "token_labels": [],
                "headline_label": int(h.label),
                "doc_id": h.doc_id,
                "kind": "headline",
                "weak": False,
                "start": 0,
                "end": min(len(enc), max_length - 2),
            }
        )
    return rows


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset, Features, List, Value

    features = Features(
        {
            "input_ids": List(Value("int32")),
            "token_labels": List(List(Value("int8"))),
            "headline_label": Value("int8"),
            "doc_id": Value("string"),
            "kind": Value("string"),
            "weak": Value("bool"),
            "start": Value("int32"),
            "end": Value("int32"),
        }
    )
    if not rows:
        return Dataset.from_dict({name: [] for name in features}, features=features)
    return Dataset.from_list(rows, features=features)


@dataclass
class Corpus:
    """Everything the datasets are made of, loaded once (CV reuses it fold after fold)."""

    gold: list[Example]
    weak: list[Example]
    headlines: list[Headline]
    labels: list[str]

    @property
    def gold_ids(self) -> list[str]:
        return [e.doc.id for e in self.gold]

    def by_id(self) -> dict[str, Example]:
        return {e.doc.id: e for e in self.gold}


def load_corpus(
    args: DatasetArguments, gold: list[Example] | None = None, hancd_docs: list[Document] | None = None
) -> Corpus:
    if gold is None:
        gold = load_gold(Path(args.annotations) if args.annotations else None)
    ids = [e.doc.id for e in gold]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"document id(s) in several corpora: {dup[:5]}")
    if hancd_docs is None:
        try:
            hancd_docs = load_hancd(Path(args.hancd) if args.hancd else None)
        except FileNotFoundError as e:
            log.warning("%s: no weak split and no HanCD headlines", e)
            hancd_docs = []
    # the frozen test split never reaches training: not as gold, not as weak labels, not as headlines
    test_ids = test_split_ids()
    everything = list(gold)
    gold = [e for e in gold if e.doc.id not in test_ids]
    weak = (
        weak_examples(hancd_docs, everything, args.weak_max_docs, args.seed)
        if args.weak and hancd_docs
        else []
    )
    heads = headlines_from([d for d in hancd_docs if d.id not in test_ids], gold, headline_label())
    if args.headline_max:
        heads = sorted(heads, key=lambda h: _key(args.seed, h.doc_id))[: args.headline_max]
    return Corpus(gold, weak, heads, span_labels())


def build_dataset(
    args: DatasetArguments,
    tokenizer: Any,
    corpus: Corpus,
    train_ids: Sequence[str] | None = None,
    test_ids: Sequence[str] | None = None,
    validation_ids: Sequence[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(DatasetDict, split manifest). Explicit ids (cross-validation) override the seeded split."""
    from datasets import DatasetDict

    if train_ids is None:
        split = split_by_article(corpus.gold_ids, args.seed, args.validation_fraction, args.test_fraction)
    else:
        split = {
            "train": sorted(train_ids),
            "validation": sorted(validation_ids or []),
            "test": sorted(test_ids or []),
        }
    by_id = corpus.by_id()
    seen: set[str] = set()
    for ids in split.values():
        if seen & set(ids):
            raise ValueError(f"article(s) in two splits: {sorted(seen & set(ids))[:5]}")
        seen |= set(ids)
    h_train, h_test = headline_split(corpus.headlines, args.headline_test_fraction)
    rows = {
        name: span_rows(
            [by_id[i] for i in split[name]], tokenizer, corpus.labels, args.max_length, args.stride
        )
        for name in ("train", "validation", "test")
    }
    rows["weak"] = span_rows(corpus.weak, tokenizer, corpus.labels, args.max_length, args.stride, weak=True)
    rows["headline_train"] = headline_rows(h_train, tokenizer, args.max_length)
    rows["headline_test"] = headline_rows(h_test, tokenizer, args.max_length)
    dd = DatasetDict({name: to_dataset(r) for name, r in rows.items()})
    manifest = {
        "args": asdict(args),
        "labels": corpus.labels,
        "headline_label": headline_label(),
        "splits": split,
        "weak_docs": [e.doc.id for e in corpus.weak],
        "headlines": {
            "train": len(h_train),
            "test": len(h_test),
            "test_positive": sum(h.label for h in h_test),
        },
        "rows": {name: len(r) for name, r in rows.items()},
        "spans": {
            name: sum(len(by_id[i].spans) for i in split[name]) for name in ("train", "validation", "test")
        },
    }
    return dd, manifest


def save_dataset(dd: Any, manifest: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    dd.save_to_disk(str(out_dir))
    (out_dir / "huashu_dataset.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def label_stats(dd: Any, labels: Sequence[str], split: str = "train") -> np.ndarray:
    """Positive token counts per target column (inside then begin) in a split."""
    n = np.zeros(2 * len(labels), dtype=np.int64)
    for row in dd[split]["token_labels"]:
        arr = np.asarray(row[1:-1], dtype=np.int64)
        if arr.size:
            n += arr.sum(axis=0)
    return n


def shuffled(items: Sequence[Any], seed: int) -> list[Any]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
