"""The Label Studio labelling config, generated from the taxonomy (never edited by hand).

One ``<Labels name="label" toName="text">`` with a ``<Label>`` per taxonomy label: ``value`` is the
label id (what exports and pre-annotations carry; no ``alias``, which Label Studio would export in
place of the value), ``background`` its colour, ``hotkey`` its hotkey and ``hint`` the Chinese name
and definition shown on hover. The ``<Text>`` selects by code point (``granularity="symbol"``, the
right unit for Chinese, which has no spaces between words). The task's ``title`` and ``origin``
(corpus · source file) are shown above the text; not ``$source``, which Label Studio 1.23 renders
as the whole task JSON in a ``<Header>``. Output is deterministic: the same taxonomy gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from huashu.taxonomy import Taxonomy

FROM_NAME = "label"
TO_NAME = "text"


def _hint(label_zh: str, definition_zh: str, definition_en: str) -> str:
    return f"{label_zh} — {definition_zh} / {definition_en}"


def label_studio_config(taxonomy: Taxonomy) -> str:
    """The LS labelling config XML for ``taxonomy``."""
    view = ET.Element("View")
    view.append(ET.Comment(f" generated from labels/taxonomy.yaml (version {taxonomy.version}) by "
                           "`huashu labels config`: edit the yaml, not this "))
    ET.SubElement(view, "Header", {
        "value": "话术 huashu · 标出文中的话术片段 / mark the rhetorical devices "
                 "(guidelines: labels/guidelines.md)",
        "size": "5",
    })
    ET.SubElement(view, "Header", {"value": "$title", "size": "4"})
    ET.SubElement(view, "Header", {"value": "$origin", "size": "6",
                                   "style": "color: #666; font-weight: normal"})
    labels = ET.SubElement(view, "Labels", {"name": FROM_NAME, "toName": TO_NAME})
    for label in taxonomy.labels:
        ET.SubElement(labels, "Label", {
            "value": label.id,
            "background": label.colour,
            "hotkey": label.hotkey,
            "hint": _hint(label.zh, label.definition_zh, label.definition_en),
        })
    ET.SubElement(view, "Text", {"name": TO_NAME, "value": "$text", "granularity": "symbol"})
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"
