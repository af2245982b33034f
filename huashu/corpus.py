"""Resolve the text an annotation record indexes.

Annotation records (huashu/annotations.py) hold offsets, never text. Their ``corpus`` and
``source`` say where the text is; this module re-ingests it (cached per file) and checks the
``sha256`` so offsets are never applied to a text that changed:

- ``seeds``: ``<repo>/seeds/<basename of source>`` (source is e.g. ``"seeds/000_….txt"``);
- ``hancd``: ``huashu.paths.hancd_dir() / source`` (e.g. ``"tencent.csv"``), row picked by doc id
  (``"tencent-0042"``). HanCD has no licence: it is read where it lies, never copied into the repo.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from huashu.annotations import AnnotationRecord
from huashu.errors import UserError
from huashu.ingest import IngestError, ingest_file
from huashu.paths import corpus_roots, hancd_dir, seeds_dir
from huashu.spans import Document


class CorpusError(UserError):
    """The document an annotation refers to cannot be found or has changed."""


class HashMismatchError(CorpusError):
    pass


def corpus_path(corpus: str, source: str) -> Path:
    """The file holding ``source`` in ``corpus``."""
    if corpus == "seeds":
        return seeds_dir() / Path(source).name
    if corpus == "hancd":
        root = hancd_dir()
        if not root.is_dir():
            raise CorpusError(f"HanCD corpus not found at {root} (set HUASHU_HANCD_DIR)")
        return root / source
    raise CorpusError(f"unknown corpus {corpus!r} (known: {', '.join(corpus_roots())})")


@lru_cache(maxsize=16)
def _parsed(path: str, mtime_ns: int, size: int) -> dict[str, Document]:
    return {d.id: d for d in ingest_file(Path(path))}


def _documents(path: Path) -> dict[str, Document]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorpusError(f"{path}: corpus file not found") from None
    try:
        return _parsed(str(path), st.st_mtime_ns, st.st_size)
    except IngestError as e:
        raise CorpusError(str(e)) from None


def load_document(corpus: str, source: str, doc_id: str) -> Document:
    """The ingested document ``doc_id`` of ``source`` in ``corpus`` (files parsed once, cached)."""
    path = corpus_path(corpus, source)
    docs = _documents(path)
    doc = docs.get(doc_id)
    if doc is None:
        raise CorpusError(f"{path}: no document {doc_id!r} ({len(docs)} documents in the file)")
    return doc


def check_hash(doc: Document, sha256: str) -> None:
    """Raise HashMismatchError unless ``doc.text`` is the text the annotation was made on."""
    if sha256 and doc.sha256 != sha256:
        raise HashMismatchError(f"hash mismatch for {doc.id}: the corpus file changed since annotation "
                                f"(or the chrome rules did); expected {sha256[:12]}…, got {doc.sha256[:12]}…")


def resolve_record(record: AnnotationRecord) -> Document:
    """The document an annotation record indexes, checked against its sha256."""
    doc = load_document(record.corpus, record.source, record.doc_id)
    check_hash(doc, record.sha256)
    return doc
