"""A classical baseline: character n-gram TF-IDF + logistic regression, at clause level.

Each article is cut into clauses (between ，。！？；：、 and line breaks); a clause is positive for a
label when a gold span of that label overlaps it. One balanced logistic regression per label on
char 1–3-gram TF-IDF; a predicted clause becomes a span of its label. It implements the Detector
protocol so evaluation treats it like the model and the rules. Also a headline baseline (same
features, one classifier) for the clickbait task.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from huashu.normalize import to_simplified
from huashu.spans import Document, Span

CLAUSE = re.compile(r"[^，。！？；：、,!?;:\n]+[，。！？；：、,!?;:]*")


def clauses(text: str) -> list[tuple[int, int]]:
    """Clause extents [start, end) with surrounding whitespace trimmed."""
    out = []
    for m in CLAUSE.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def char_vectorizer() -> Any:
    """The char 1-3-gram TF-IDF every baseline here uses (spans, headlines, experiments)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), min_df=1, sublinear_tf=True, max_features=200_000
    )


class TfidfClauseTagger:
    """Char-n-gram TF-IDF + logistic regression per label over clauses."""

    name = "tfidf-lr"
    version = "1"

    def __init__(self, labels: Sequence[str], threshold: float = 0.5, C: float = 4.0, seed: int = 13) -> None:
        self.labels = list(labels)
        self.threshold = threshold
        self.C = C
        self.seed = seed
        self.vectorizer: Any = None
        self.models: dict[str, Any] = {}

    def fit(self, docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> TfidfClauseTagger:
        from sklearn.linear_model import LogisticRegression

        texts: list[str] = []
        y = {label: [] for label in self.labels}
        for doc, gold in zip(docs, spans, strict=True):
            simple = to_simplified(doc.text)
            for a, b in clauses(doc.text):
                texts.append(simple[a:b])
                for label in self.labels:
                    y[label].append(int(any(s.label == label and s.start < b and s.end > a for s in gold)))
        self.models = {}
        if not texts:
            return self
        self.vectorizer = char_vectorizer()
        X = self.vectorizer.fit_transform(texts)
        for label in self.labels:
            target = np.asarray(y[label])
            if target.sum() == 0 or target.sum() == len(target):
                continue  # nothing to learn: never predicts this label
            clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000, random_state=self.seed)
            clf.fit(X, target)
            self.models[label] = clf
        return self

    def detect_batch(self, docs: list[Document]) -> list[list[Span]]:
        out: list[list[Span]] = []
        for doc in docs:
            cl = clauses(doc.text)
            spans: list[Span] = []
            if cl and self.models:
                simple = to_simplified(doc.text)
                X = self.vectorizer.transform([simple[a:b] for a, b in cl])
                for label, clf in self.models.items():
                    p = clf.predict_proba(X)[:, 1]
                    spans.extend(
                        Span(a, b, label, float(q), self.name)
                        for (a, b), q in zip(cl, p, strict=True)
                        if q >= self.threshold
                    )
            out.append(sorted(spans))
        return out

    def detect(self, doc: Document) -> list[Span]:
        return self.detect_batch([doc])[0]


class TfidfHeadline:
    """Headline clickbait baseline: char-n-gram TF-IDF + logistic regression."""

    def __init__(self, C: float = 4.0, seed: int = 13) -> None:
        self.C = C
        self.seed = seed

    def fit(self, titles: Sequence[str], labels: Sequence[int]) -> TfidfHeadline:
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = char_vectorizer()
        X = self.vectorizer.fit_transform([to_simplified(t) for t in titles])
        self.clf = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed).fit(X, list(labels))
        return self

    def predict_proba(self, titles: Sequence[str]) -> list[float]:
        X = self.vectorizer.transform([to_simplified(t) for t in titles])
        return [float(p) for p in self.clf.predict_proba(X)[:, 1]]
