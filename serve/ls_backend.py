"""Label Studio ML-backend protocol (/health, /setup, /predict, /webhook) on the scoring server.

The shape follows label-studio-ml-backend's ``predict``, not its bugs: long texts are scored whole
(the detector windows them), never truncated; spans are never merged, adjacent or not; offsets are
Python code points into the task's text, which is what Label Studio 1.23 uses for ``Labels``.
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelConfigNames:
    from_name: str = "label"
    to_name: str = "text"
    value_key: str = "text"  # task.data key the Text tag reads ($text)


def parse_label_config(config: str | None) -> LabelConfigNames:
    """from_name/to_name/data key of the first <Labels> tag and the <Text> it points at.
    Falls back to the names huashu's generated config uses."""
    default = LabelConfigNames()
    if not config:
        return default
    try:
        root = ET.fromstring(config)
    except ET.ParseError:
        log.warning("label_config is not valid XML: using from_name=%r to_name=%r", default.from_name,
                    default.to_name)
        return default
    labels = next((el for el in root.iter() if el.tag == "Labels" and el.get("name")), None)
    if labels is None:
        return default
    to_name = labels.get("toName") or default.to_name
    text_tag = next((el for el in root.iter() if el.get("name") == to_name), None)
    value = (text_tag.get("value") if text_tag is not None else None) or "$" + default.value_key
    return LabelConfigNames(labels.get("name") or default.from_name, to_name, value.lstrip("$"))


def task_text(task: dict[str, Any], names: LabelConfigNames) -> tuple[str, str | None]:
    """The text to pre-annotate and the optional headline from a task dict."""
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"task {task.get('id') if isinstance(task, dict) else task!r} has no data object")
    text = data.get(names.value_key)
    if not isinstance(text, str):
        raise ValueError(f"task {task.get('id')}: data.{names.value_key} is not a string")
    title = data.get("title")
    return text, title if isinstance(title, str) else None


def to_ls_prediction(result: dict[str, Any], names: LabelConfigNames, model_version: str) -> dict[str, Any]:
    """One Label Studio prediction from a score_document result (spans in the task text)."""
    items = []
    for span in result["spans"]:
        items.append({
            "id": uuid.uuid4().hex[:10],
            "from_name": names.from_name,
            "to_name": names.to_name,
            "type": "labels",
            "origin": "prediction",
            "value": {"start": span["start"], "end": span["end"], "text": span["text"],
                      "labels": [span["label"]]},
            "score": span["score"],
        })
    return {"result": items, "score": float(result.get("article_score", 0.0)), "model_version": model_version}
