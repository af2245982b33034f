"""Import annotations made outside the LS UI (annotator agents, scripts) as a named LS user.

Input: JSONL, one line per document::

    {"doc_id": "...", "spans": [{"start": 3, "end": 9, "label": "vague_authority"}]}
    {"doc_id": "...", "spans": [{"label": "loaded_metaphor", "quote": "釜底抽薪",
                                 "prefix": "一記", "suffix": "。"}]}

Offsets are code points into the whole document (as the store's); a quote is resolved against
the document text: it must occur, and ``prefix``/``suffix`` (text right before/after it) must
make it unique. Every line is resolved and validated before anything is created; any problem
(missing or ambiguous quote, unknown doc, span crossing a task part, same-label overlap) is
listed and nothing is created.

How the annotation is attributed (checked on LS 1.23.2): the admin's token creates it with
``completed_by=<user id>``; LS stores that user as the annotator (``updated_by`` is the admin) and
exports it as theirs. A missing user is signed up through the organisation's invite link (random
password kept in the studio dir's ``users.json``, mode 0600), so they can also log in to the UI;
``POST /api/users/`` would create a user with no usable password and no organisation.

A user has at most one annotation per task: a second import for the same user and task is
refused unless ``replace`` is set, which updates that annotation in place; the next ``pull`` sees
the change and keeps the old spans in the record's ``history``.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashu.spans import Span, SpanError, validate_spans
from huashu.studio import StudioError
from huashu.studio.project import config_names
from huashu.studio.server import Studio, _read_json, _write_json, api_error, signup_user
from huashu.taxonomy import load_taxonomy

log = logging.getLogger(__name__)


def resolve_quote(text: str, quote: str, prefix: str = "", suffix: str = "") -> list[int]:
    """Start offsets of ``quote`` in ``text`` preceded by ``prefix`` and followed by ``suffix``."""
    if not quote:
        return []
    hits = []
    i = text.find(quote)  # step by one: overlapping occurrences count too
    while i != -1:
        if text[:i].endswith(prefix) and text[i + len(quote):].startswith(suffix):
            hits.append(i)
        i = text.find(quote, i + 1)
    return hits


@dataclass
class DocTasks:
    doc_id: str
    text: str
    parts: list[tuple[int, int, int]]  # (task id, offset, end)

    def locate(self, span: Span) -> tuple[int, int] | None:
        """(task id, part offset) of the part holding the whole span."""
        for tid, start, end in self.parts:
            if start <= span.start and span.end <= end:
                return tid, start
        return None


def project_docs(studio: Studio, project_id: int) -> dict[str, DocTasks]:
    """doc_id → its text (parts joined) and task ids."""
    by_doc: dict[str, list[tuple[int, int, int, str]]] = {}
    try:
        for t in studio.ls.tasks.list(project=project_id, fields="all"):
            data = t.data or {}
            if data.get("doc_id"):
                row = (int(data.get("part", 0)), int(t.id), int(data.get("offset", 0)),
                       str(data.get("text", "")))
                by_doc.setdefault(str(data["doc_id"]), []).append(row)
    except Exception as e:
        raise api_error(e, f"listing the tasks of project {project_id}") from None
    out = {}
    for doc_id, parts in by_doc.items():
        parts.sort()
        text = "".join(p[3] for p in parts)
        out[doc_id] = DocTasks(doc_id, text, [(tid, off, off + len(t)) for _, tid, off, t in parts])
    return out


@dataclass
class Planned:
    doc_id: str
    task_id: int
    spans: list[Span]  # task coordinates
    doc_spans: list[Span]
    existing: int | None = None  # annotation id of this user on the task


@dataclass
class AnnotateResult:
    user: str
    user_id: int
    created: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    plans: list[Planned] = field(default_factory=list)


def read_input(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise StudioError(f"{path}: no such file") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise StudioError(f"{path}:{lineno}: not JSON ({e.msg}); nothing created") from None
        if not isinstance(row, dict) or not row.get("doc_id") or not isinstance(row.get("spans"), list):
            raise StudioError(f"{path}:{lineno}: expected {{\"doc_id\", \"spans\": [...]}}; nothing created")
        row["_line"] = lineno
        rows.append(row)
    return rows


def plan(rows: list[dict[str, Any]], docs: dict[str, DocTasks], labels: set[str]) -> list[Planned]:
    """Resolve and validate every row; raise StudioError listing all problems."""
    errors: list[str] = []
    plans: list[Planned] = []
    for row in rows:
        where = f"line {row['_line']} (doc {row['doc_id']})"
        doc = docs.get(str(row["doc_id"]))
        if doc is None:
            errors.append(f"{where}: no task for this doc_id in the project (push it first)")
            continue
        spans: list[Span] = []
        for j, s in enumerate(row["spans"]):
            label = s.get("label") if isinstance(s, dict) else None
            if label not in labels:
                errors.append(f"{where} span {j}: unknown label {label!r}")
                continue
            if "quote" in s:
                quote, prefix, suffix = str(s["quote"]), str(s.get("prefix", "")), str(s.get("suffix", ""))
                hits = resolve_quote(doc.text, quote, prefix, suffix)
                if not hits:
                    errors.append(f"{where} span {j}: quote {quote!r}"
                                  + (f" with prefix {prefix!r}" if prefix else "")
                                  + (f" and suffix {suffix!r}" if suffix else "") + " not found in the text")
                    continue
                if len(hits) > 1:
                    ctx = "; ".join(f"at {h}: …{doc.text[max(0, h - 6):h]}[{quote}]"
                                    f"{doc.text[h + len(quote):h + len(quote) + 6]}…" for h in hits[:5])
                    errors.append(f"{where} span {j}: quote {quote!r} is ambiguous ({len(hits)} places: "
                                  f"{ctx}); add a prefix and/or suffix")
                    continue
                start, end = hits[0], hits[0] + len(quote)
            else:
                try:
                    start, end = int(s["start"]), int(s["end"])
                except (KeyError, TypeError, ValueError):
                    errors.append(f"{where} span {j}: needs start/end or quote")
                    continue
                if not (0 <= start < end <= len(doc.text)):
                    errors.append(f"{where} span {j}: [{start},{end}) {label} is outside the text "
                                  f"(length {len(doc.text)})")
                    continue
            spans.append(Span(start, end, label))
        try:
            validate_spans(doc.text, spans, labels, where=where)
        except SpanError as e:
            errors.append(str(e))
            continue
        by_task: dict[int, Planned] = {tid: Planned(doc.doc_id, tid, [], []) for tid, _, _ in doc.parts}
        for sp in spans:
            loc = doc.locate(sp)
            if loc is None:
                errors.append(f"{where}: span [{sp.start},{sp.end}) {sp.label} crosses a task boundary "
                              "(the document is split into parts)")
                continue
            tid, offset = loc
            by_task[tid].spans.append(Span(sp.start - offset, sp.end - offset, sp.label))
            by_task[tid].doc_spans.append(sp)
        # a row annotates the whole document: every part gets an annotation (maybe empty)
        plans.extend(by_task.values())
    if errors:
        raise StudioError(f"{len(errors)} problem(s); no annotation created:\n  " + "\n  ".join(errors))
    return plans


def ensure_user(studio: Studio, email: str) -> int:
    """The LS user id for ``email``. A missing user is signed up through the organisation's invite
    link (so they can also log in to the UI); their generated password is kept in the studio dir's
    ``users.json`` (mode 0600)."""
    def find() -> int | None:
        try:
            for u in studio.ls.users.list():
                if (u.email or "").lower() == email.lower():
                    return int(u.id)
        except Exception as e:
            raise api_error(e, "listing users") from None
        return None

    uid = find()
    if uid is not None:
        return uid
    if "@" not in email:
        raise StudioError(f"--user must be an e-mail address, got {email!r}")
    password = secrets.token_urlsafe(15)
    signup_user(studio, email, password)
    uid = find()
    if uid is None:
        raise StudioError(f"signed up {email} but Label Studio does not list the user")
    if studio.sdir is not None:
        path = studio.sdir / "users.json"
        users = _read_json(path)
        users[email] = {"id": uid, "password": password}
        _write_json(path, users, private=True)
    log.info("created LS user %s (id %s); password in %s", email, uid,
             studio.sdir / "users.json" if studio.sdir else "(not stored)")
    return uid


def annotate(studio: Studio, project_id: int, user: str, rows: list[dict[str, Any]],
             replace: bool = False) -> AnnotateResult:
    labels = set(load_taxonomy().ids)
    docs = project_docs(studio, project_id)
    plans = plan(rows, docs, labels)
    try:
        project = studio.ls.projects.get(id=project_id)
    except Exception as e:
        raise api_error(e, f"reading project {project_id}") from None
    from_name, to_name = config_names(project.label_config)
    uid = ensure_user(studio, user)
    # existing annotations of this user on the planned tasks
    conflicts = []
    for p in plans:
        try:
            anns = studio.ls.annotations.list(id=p.task_id)
        except Exception as e:
            raise api_error(e, f"listing annotations of task {p.task_id}") from None
        mine = [a for a in anns if _uid(a.completed_by) == uid and not a.was_cancelled]
        if mine:
            p.existing = int(max(mine, key=lambda a: a.id).id)
            conflicts.append(f"task {p.task_id} (doc {p.doc_id}): annotation {p.existing}")
    if conflicts and not replace:
        raise StudioError(f"{user} already has annotations on {len(conflicts)} task(s); nothing created "
                          "(use --replace to update them; the old spans stay in the store's history):\n  "
                          + "\n  ".join(conflicts))
    result = AnnotateResult(user, uid, plans=plans)
    for p in plans:
        task_text = docs[p.doc_id].text
        off = next(start for tid, start, _ in docs[p.doc_id].parts if tid == p.task_id)
        items = [{"id": f"h{i}", "from_name": from_name, "to_name": to_name, "type": "labels",
                  "origin": "manual",
                  "value": {"start": s.start, "end": s.end, "text": task_text[off + s.start:off + s.end],
                            "labels": [s.label]}} for i, s in enumerate(p.spans)]
        try:
            if p.existing is not None:
                studio.ls.annotations.update(id=p.existing, result=items)
                result.replaced.append(p.existing)
            else:
                ann = studio.ls.annotations.create(id=p.task_id, result=items, completed_by=uid,
                                                   was_cancelled=False, ground_truth=False)
                result.created.append(int(ann.id))
        except Exception as e:
            done = f" ({len(result.created)} created, {len(result.replaced)} replaced before it)"
            raise api_error(e, f"saving the annotation of task {p.task_id}{done}") from None
    return result


def _uid(completed_by: Any) -> int | None:
    if isinstance(completed_by, dict):
        return int(completed_by.get("id", -1))
    try:
        return int(completed_by)
    except (TypeError, ValueError):
        return None
