"""Pull submitted LS annotations into the standoff store (labels/annotations/<corpus>.jsonl).

Rules (the store is the repo's memory; LS is a working copy):

- only submitted annotations count: drafts are never exported as annotations, cancelled (skipped)
  ones are ignored;
- each (document, annotator) becomes one AnnotationRecord; the parts of a split document are
  joined and their ``offset`` added back, so spans index the whole document in code points;
- everything is validated before anything is written (region text equals ``text[start:end]``,
  inside the text, label in the taxonomy, no same-label overlap): any error names the task,
  annotation and span, and the store is left untouched;
- idempotent: the same export gives a byte-identical store;
- an annotation changed in LS replaces the stored spans and the old spans go to ``history``;
- a stored annotation no longer in LS is kept, and reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashu.annotations import AnnotationRecord, read_records
from huashu.paths import annotations_dir, write_text_atomic
from huashu.spans import Span, SpanError, text_hash, validate_spans
from huashu.studio import StudioError
from huashu.taxonomy import load_taxonomy

log = logging.getLogger(__name__)


@dataclass
class PullReport:
    tasks: int = 0
    annotations: int = 0
    records: int = 0
    added: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    unchanged: int = 0
    removed_in_ls: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # cancelled / duplicate annotations, why
    files: list[str] = field(default_factory=list)  # store files written

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def load_export(path: Path) -> list[dict[str, Any]]:
    """An LS JSON export file (what the UI's Export → JSON gives)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudioError(f"{path}: no such export file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StudioError(f"{path}: not a Label Studio JSON export ({e}); nothing written") from None
    if not isinstance(data, list):
        raise StudioError(f"{path}: not a Label Studio JSON export (expected a list of tasks); "
                          "nothing written")
    return data


def _user_name(completed_by: Any, users: dict[int, str]) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or users.get(int(completed_by.get("id", -1)), "")
                   or f"ls-user-{completed_by.get('id')}")
    if isinstance(completed_by, int):
        return users.get(completed_by) or f"ls-user-{completed_by}"
    return str(completed_by or "unknown")


@dataclass
class _Part:
    task_id: int
    part: int
    parts: int
    offset: int
    text: str


@dataclass
class _Doc:
    doc_id: str
    corpus: str
    source: str
    sha256: str
    parts: dict[int, _Part] = field(default_factory=dict)
    # annotator → list of (task id, annotation dict)
    annotations: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)


def _task_docs(tasks: list[dict[str, Any]], users: dict[int, str], report: PullReport,
               errors: list[str]) -> dict[tuple[str, str], _Doc]:
    docs: dict[tuple[str, str], _Doc] = {}
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict) or "id" not in task:
            errors.append(f"export item {i}: not a Label Studio task (needs id and data)")
            continue
        tid = task["id"]
        data = task["data"]
        text = data.get("text")
        if not isinstance(text, str):
            errors.append(f"task {tid}: data has no text")
            continue
        doc_id = str(data.get("doc_id") or f"ls-task-{tid}")
        corpus = str(data.get("corpus") or "ls")
        sha = str(data.get("sha256") or "")
        try:
            part = _Part(int(tid), int(data.get("part", 0)), int(data.get("parts", 1)),
                         int(data.get("offset", 0)), text)
        except (TypeError, ValueError):
            errors.append(f"task {tid}: part/parts/offset are not integers")
            continue
        key = (corpus, doc_id)
        doc = docs.setdefault(key, _Doc(doc_id, corpus, str(data.get("source") or ""), sha))
        if doc.sha256 != sha:
            errors.append(f"task {tid}: doc {doc_id} appears with two different sha256 in the project "
                          "(the document changed and was pushed again): resolve it in LS first")
            continue
        if part.part in doc.parts:
            errors.append(f"task {tid}: doc {doc_id} part {part.part} is also task "
                          f"{doc.parts[part.part].task_id}")
            continue
        doc.parts[part.part] = part
        for ann in task.get("annotations") or []:
            if not isinstance(ann, dict) or not isinstance(ann.get("result", []), list):
                errors.append(f"task {tid}: malformed annotation {ann!r:.80}")
                continue
            if ann.get("was_cancelled"):
                report.skipped.append(f"task {tid} annotation {ann.get('id')}: cancelled (skipped) in LS")
                continue
            who = _user_name(ann.get("completed_by"), users)
            doc.annotations.setdefault(who, []).append((int(tid), ann))
            report.annotations += 1
    report.tasks = len(tasks)
    return docs


def _doc_text(doc: _Doc, errors: list[str]) -> str | None:
    n = max(p.parts for p in doc.parts.values())
    if sorted(doc.parts) != list(range(n)):
        errors.append(f"doc {doc.doc_id}: parts {sorted(doc.parts)} of {n} in the project; "
                      "cannot rebuild the document")
        return None
    text = ""
    for i in range(n):
        p = doc.parts[i]
        if p.offset != len(text):
            errors.append(f"task {p.task_id}: doc {doc.doc_id} part {i} has offset {p.offset}, "
                          f"expected {len(text)}")
            return None
        text += p.text
    if doc.sha256 and text_hash(text) != doc.sha256:
        errors.append(f"doc {doc.doc_id} (tasks {', '.join(str(p.task_id) for p in doc.parts.values())}): "
                      "task text does not match its sha256")
        return None
    if not doc.sha256:
        doc.sha256 = text_hash(text)
    return text


def _ann_spans(doc: _Doc, task_id: int, ann: dict[str, Any], labels: set[str],
               errors: list[str]) -> list[Span]:
    part = next(p for p in doc.parts.values() if p.task_id == task_id)
    where = f"task {task_id} (doc {doc.doc_id}), annotation {ann.get('id')}"
    spans = []
    for item in ann.get("result") or []:
        if not isinstance(item, dict) or item.get("type") != "labels":
            continue  # relations, choices, textareas: not spans
        value = item.get("value") or {}
        try:
            start, end = int(value["start"]), int(value["end"])
            item_labels = [str(x) for x in value["labels"]]
        except (KeyError, TypeError, ValueError):
            errors.append(f"{where}: region {item.get('id')} has no integer start/end and labels")
            continue
        if not (0 <= start < end <= len(part.text)):
            errors.append(f"{where}: span [{start},{end}) {item_labels} is outside the task text "
                          f"(length {len(part.text)})")
            continue
        if "text" in value and value["text"] != part.text[start:end]:
            errors.append(f"{where}: span [{start},{end}) text {value['text']!r} does not match the task "
                          f"text there {part.text[start:end]!r} (offsets are not code points?)")
            continue
        for label in item_labels:
            if label not in labels:
                errors.append(f"{where}: span [{start},{end}) {part.text[start:end]!r} has label {label!r}, "
                              "not in labels/taxonomy.yaml")
                continue
            spans.append(Span(start + part.offset, end + part.offset, label, 1.0))
    return spans


def records_from_export(tasks: list[dict[str, Any]], project_id: int | None, users: dict[int, str],
                        labels: set[str], report: PullReport) -> list[AnnotationRecord]:
    """Validated records, one per (document, annotator). Raises StudioError listing every problem."""
    errors: list[str] = []
    docs = _task_docs(tasks, users, report, errors)
    records: list[AnnotationRecord] = []
    for doc in docs.values():
        if not doc.annotations:
            continue
        text = _doc_text(doc, errors)
        if text is None:
            continue
        for who, anns in sorted(doc.annotations.items()):
            # one annotation per task and annotator: the latest; any other is reported
            per_task: dict[int, dict[str, Any]] = {}
            for tid, ann in sorted(anns, key=lambda x: (str(x[1].get("updated_at", "")), x[1].get("id", 0))):
                if tid in per_task:
                    report.skipped.append(f"task {tid}: {who} has several annotations; using "
                                          f"{ann.get('id')}, not {per_task[tid].get('id')}")
                per_task[tid] = ann
            spans: list[Span] = []
            n_err = len(errors)
            for tid, ann in sorted(per_task.items()):
                spans.extend(_ann_spans(doc, tid, ann, labels, errors))
            if len(errors) > n_err:
                continue
            ann_ids = sorted(int(a["id"]) for a in per_task.values())
            task_ids = sorted(per_task)
            try:
                validate_spans(text, spans, labels, where=f"task {', '.join(map(str, task_ids))} "
                               f"(doc {doc.doc_id}), annotation {', '.join(map(str, ann_ids))} by {who}")
            except SpanError as e:
                errors.append(str(e))
                continue
            ls: dict[str, Any] = {"project": project_id} if project_id is not None else {}
            if len(task_ids) == 1:
                ls.update(task=task_ids[0], annotation=ann_ids[0])
            else:
                ls.update(task=task_ids, annotation=ann_ids)
            created = min(str(a.get("created_at", "")) for a in per_task.values())
            updated = max(str(a.get("updated_at", "")) for a in per_task.values())
            records.append(AnnotationRecord(
                doc_id=doc.doc_id, corpus=doc.corpus, source=doc.source, sha256=doc.sha256,
                annotator=who, spans=sorted(set(spans)), ls=ls, created_at=created, updated_at=updated))
    if errors:
        shown = errors[:20]
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise StudioError(f"{len(errors)} problem(s) in the Label Studio export; nothing written:\n  "
                          + "\n  ".join(shown) + more)
    report.records = len(records)
    return records


def _span_dicts(spans: Iterable[Span]) -> list[dict[str, Any]]:
    return [{"start": s.start, "end": s.end, "label": s.label} for s in sorted(spans)]


def merge(store: dict[tuple[str, str, str], AnnotationRecord], pulled: list[AnnotationRecord],
          project_id: int | None, report: PullReport) -> dict[tuple[str, str, str], AnnotationRecord]:
    """The store after the pull: new records added, changed ones replaced with history kept,
    nothing removed."""
    out = dict(store)
    seen = set()
    for new in pulled:
        seen.add(new.key)
        old = store.get(new.key)
        if old is None:
            out[new.key] = new
            report.added.append(new.key)
            continue
        if _span_dicts(old.spans) == _span_dicts(new.spans) and old.sha256 == new.sha256:
            if old.ls != new.ls or old.updated_at != new.updated_at or old.source != new.source:
                old.ls, old.updated_at, old.source = new.ls, new.updated_at, new.source or old.source
            report.unchanged += 1
            continue
        entry = {"spans": _span_dicts(old.spans), "sha256": old.sha256, "updated_at": old.updated_at,
                 "ls": old.ls, "replaced_at": new.updated_at}
        new.history = [*old.history, entry]
        new.created_at = old.created_at or new.created_at
        out[new.key] = new
        report.changed.append(new.key)
    for key, old in store.items():
        if key in seen or project_id is None or old.ls.get("project") != project_id:
            continue
        report.removed_in_ls.append(key)
    return out


def _serialize(records: Iterable[AnnotationRecord]) -> str:
    rows = sorted(records, key=lambda r: r.key)
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def pull_export(tasks: list[dict[str, Any]], project_id: int | None, users: dict[int, str],
                store_dir: Path | None = None, dry_run: bool = False) -> PullReport:
    """Validate ``tasks`` (an LS JSON export), merge into the store; write only changed files."""
    store_dir = Path(store_dir) if store_dir else annotations_dir()
    report = PullReport()
    labels = set(load_taxonomy().ids)
    pulled = records_from_export(tasks, project_id, users, labels, report)
    corpora = sorted({r.corpus for r in pulled} | ({p.stem for p in store_dir.glob("*.jsonl")}
                                                     if store_dir.is_dir() else set()))
    planned: dict[Path, str] = {}
    for corpus in corpora:
        path = store_dir / f"{corpus}.jsonl"
        try:
            existing = read_records(path) if path.exists() else []
        except ValueError as e:
            raise StudioError(f"the annotation store is unreadable, nothing written: {e}") from None
        store = {r.key: r for r in existing}
        merged = merge(store, [r for r in pulled if r.corpus == corpus], project_id, report)
        text = _serialize(merged.values())
        old_text = path.read_text(encoding="utf-8") if path.exists() else ""
        if text != old_text and merged:
            planned[path] = text
    if not dry_run:
        store_dir.mkdir(parents=True, exist_ok=True)
        for path, text in planned.items():  # same bytes as annotations.write_records, atomically
            write_text_atomic(path, text)
            report.files.append(str(path))
    return report


def pull(studio: Any, project_id: int, store_dir: Path | None = None, dry_run: bool = False) -> PullReport:
    """Export the project through the SDK and pull it into the store."""
    from huashu.studio.project import export_tasks
    from huashu.studio.server import api_error

    tasks = export_tasks(studio, project_id)
    try:
        users = {int(u.id): str(u.email) for u in studio.ls.users.list()}
    except Exception as e:
        raise api_error(e, "listing users") from None
    return pull_export(tasks, project_id, users, store_dir, dry_run)
