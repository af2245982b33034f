"""The LS project huashu manages: created from, and kept in step with, labels/taxonomy.yaml.

``ensure_project`` is idempotent: the same generated config changes nothing; a changed config is
applied, unless a label that existing annotations use would disappear from it (that would orphan
those annotations), which is refused with a message naming the labels and how many regions use them.
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huashu.studio import StudioError
from huashu.studio.server import Studio, _read_json, _write_json, api_error
from huashu.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

DEFAULT_TITLE = "huashu"
FROM_NAME = "label"  # the <Labels name=…> of the generated config
TO_NAME = "text"  # the <Text name=…>


def generated_config(taxonomy: Taxonomy | None = None) -> str:
    from huashu.labelconfig import label_studio_config

    return label_studio_config(taxonomy or load_taxonomy())


def config_labels(config: str) -> set[str]:
    """The label values a LS labelling config offers."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as e:
        raise StudioError(f"labelling config is not valid XML: {e}") from None
    return {el.attrib["value"] for el in root.iter("Label") if "value" in el.attrib}


def config_names(config: str) -> tuple[str, str]:
    """(from_name, to_name) of the span-labelling control in ``config``."""
    root = ET.fromstring(config)
    for el in root.iter("Labels"):
        return el.attrib.get("name", FROM_NAME), el.attrib.get("toName", TO_NAME)
    return FROM_NAME, TO_NAME


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ProjectResult:
    project_id: int
    title: str
    action: str  # "created" | "updated" | "unchanged"
    n_tasks: int = 0


def export_tasks(studio: Studio, project_id: int) -> list[dict[str, Any]]:
    """The full JSON export of a project (every task, with annotations and predictions)."""
    import json

    try:
        chunks = studio.ls.projects.exports.download_sync(project_id, export_type="JSON",
                                                          download_all_tasks=True)
        raw = b"".join(chunks)
    except Exception as e:
        raise api_error(e, f"exporting project {project_id}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise StudioError(f"Label Studio export of project {project_id} is not JSON ({e})") from None
    if not isinstance(data, list):
        raise StudioError(f"Label Studio export of project {project_id} is not a list of tasks")
    return data


def used_labels(tasks: list[dict[str, Any]]) -> Counter[str]:
    """How many annotation regions use each label (cancelled annotations included: they are kept)."""
    used: Counter[str] = Counter()
    for task in tasks:
        for ann in task.get("annotations") or []:
            for item in ann.get("result") or []:
                for label in (item.get("value") or {}).get("labels") or []:
                    used[label] += 1
    return used


def find_project(studio: Studio, title: str) -> Any | None:
    state = _read_json(studio.sdir / "project.json") if studio.sdir else {}
    if state.get("project_id") and state.get("url") == studio.url:
        try:
            return studio.ls.projects.get(id=int(state["project_id"]))
        except Exception as e:
            if getattr(e, "status_code", None) != 404:
                raise api_error(e, "reading the project") from None
            log.warning("project %s recorded in %s is gone from LS; looking it up by title",
                        state["project_id"], studio.sdir)
    try:
        for p in studio.ls.projects.list(title=title):
            if p.title == title:
                return p
    except Exception as e:
        raise api_error(e, "listing projects") from None
    return None


def ensure_project(studio: Studio, title: str = DEFAULT_TITLE, taxonomy: Taxonomy | None = None,
                   config: str | None = None) -> ProjectResult:
    config = config if config is not None else generated_config(taxonomy)
    new_labels = config_labels(config)
    project = find_project(studio, title)
    if project is None:
        try:
            project = studio.ls.projects.create(
                title=title, label_config=config,
                description="话术 huashu: mark rhetorical and propaganda devices (labels/taxonomy.yaml)",
            )
        except Exception as e:
            raise api_error(e, f"creating project {title!r}") from None
        action = "created"
    elif (project.label_config or "").strip() == config.strip():
        action = "unchanged"
    else:
        old_labels = config_labels(project.label_config or "<View/>")
        removed = old_labels - new_labels
        if removed:
            used = used_labels(export_tasks(studio, project.id))
            orphaned = {label: used[label] for label in sorted(removed) if used[label]}
            if orphaned:
                what = ", ".join(f"{label} ({n} region{'s' if n != 1 else ''})"
                                 for label, n in orphaned.items())
                raise StudioError(
                    f"refusing to update the config of project {project.id} ({title!r}): the taxonomy "
                    f"no longer has label(s) {what} that existing annotations use. Keep the label(s), "
                    "or relabel those regions in Label Studio first, then run `huashu studio up` again")
        try:
            project = studio.ls.projects.update(id=project.id, label_config=config)
        except Exception as e:
            raise api_error(e, f"updating the labelling config of project {project.id}") from None
        action = "updated"
        log.info("labelling config of project %s updated (labels added: %s, removed: %s)", project.id,
                 ", ".join(sorted(new_labels - old_labels)) or "none", ", ".join(sorted(removed)) or "none")
    if studio.sdir is not None:
        _write_json(studio.sdir / "project.json",
                    {"project_id": project.id, "title": title, "url": studio.url,
                     "config_sha256": _sha(config)})
    return ProjectResult(project.id, title, action, int(getattr(project, "task_number", 0) or 0))


def project_state(sdir: Path) -> dict[str, Any]:
    return _read_json(sdir / "project.json")


def connect_ml(studio: Studio, project_id: int, url: str, title: str = "huashu") -> tuple[int, bool]:
    """Register the scoring server's LS ML-backend routes with the project (idempotent).
    Returns (ml backend id, created). LS must run with ML_BLOCK_LOCAL_IP=false for a loopback URL
    (``huashu studio up`` sets it)."""
    url = url.rstrip("/")
    try:
        for b in studio.ls.ml.list(project=project_id):
            if (b.url or "").rstrip("/") == url:
                return int(b.id), False
        backend = studio.ls.ml.create(project=project_id, url=url, title=title, is_interactive=True)
    except Exception as e:
        raise api_error(e, f"registering the ML backend {url}") from None
    state = getattr(backend, "state", None)
    if state not in (None, "CO", "connected"):
        log.warning("ML backend %s registered but LS reports state %r (is it running? /health?)", url, state)
    return int(backend.id), True
