"""Choosing which unlabelled articles to annotate before any model exists (cold start).

Batch 1 of the gold corpus was chosen with this module (`python -m huashu.selection`):
device-rich commentary by a weighted cue density (each cue a tiny named pattern with a
weight, counted per 1,000 characters), diversified by greedy MMR over character-trigram TF-IDF
so the batch is not near-duplicates, plus plain wire reports (lowest cue density, 新华社/记者/电 datelines) as
negatives. Once a model exists, `huashu studio next` (model uncertainty + diversity) replaces it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from huashu.paths import hancd_dir

# Tiny named cue patterns: a cheap proxy for "this article argues rather than reports".
# name -> (pattern, weight): attribution and charged wording weigh more than punctuation.
CUES: dict[str, tuple[re.Pattern[str], float]] = {
    "unnamed_source": (
        re.compile(r"分析人士|专家(?:认为|表示|指出)|据了解|有消息称|业内人士|观察人士|舆论"), 3.0),
    "crowd": (re.compile(r"网友|不少人|很多人|众所周知|不难看出|明眼人"), 1.5),
    "question": (re.compile(r"[？?]"), 1.0),
    "exclaim": (re.compile(r"[！!]"), 0.3),
    "absolute": (re.compile(r"彻底|根本|绝对|必然|注定|终究|前所未有|史无前例|毫无疑问"), 2.0),
    "charged": (re.compile(r"霸权|炒作|抹黑|叫嚣|闹剧|嘴脸|遮羞布|图谋|野心|妄图|傀儡|跳梁"), 3.0),
    "engagement": (re.compile(r"关注|点赞|转发|评论区|留言"), 1.0),
}
WIRE = re.compile(r"新华社|中新社|记者|电（|电\(|日电|讯（|本报讯")


@dataclass
class Candidate:
    doc_id: str
    source: str
    title: str
    text: str
    clickbait: int
    cue_density: float
    cues: dict[str, int]


def load_candidates(corpus: Path, min_chars: int, max_chars: int) -> list[Candidate]:
    out = []
    for path in sorted(corpus.glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                body = row["text"]
                if not (min_chars <= len(body) <= max_chars):
                    continue
                cues = {name: len(p.findall(body)) for name, (p, _) in CUES.items()}
                weighted = sum(CUES[name][1] * n for name, n in cues.items())
                out.append(Candidate(f"{path.stem}-{i:04d}", path.name, row["title"].strip(), body,
                                     int(row["label"]), weighted * 1000 / len(body), cues))
    return out


def mmr(cands: list[Candidate], k: int, relevance: list[float], lam: float = 0.7) -> list[int]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), min_df=2, sublinear_tf=True)
    x = vec.fit_transform([c.title + c.text for c in cands])
    sim = (x @ x.T).toarray()
    top = max(relevance) or 1.0
    chosen: list[int] = []
    while len(chosen) < min(k, len(cands)):
        best, best_score = -1, float("-inf")
        for i in range(len(cands)):
            if i in chosen:
                continue
            redundancy = max((sim[i, j] for j in chosen), default=0.0)
            score = lam * relevance[i] / top - (1 - lam) * redundancy
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
    return chosen


def select(corpus: Path, n_rich: int, n_plain: int, seed: int, min_chars: int,
           max_chars: int) -> list[dict]:
    cands = load_candidates(corpus, min_chars, max_chars)
    # relevance: cue density, a bonus for clickbait-labelled headlines (the other span task)
    relevance = [c.cue_density + (2.0 if c.clickbait else 0.0) for c in cands]
    rich_idx = mmr(cands, n_rich, relevance)
    rows = [{"doc_id": cands[i].doc_id, "source": cands[i].source, "group": "rich",
             "why": f"cue density {cands[i].cue_density:.1f}/1k chars "
                    f"{ {k: v for k, v in cands[i].cues.items() if v} }, clickbait={cands[i].clickbait}"}
            for i in rich_idx]
    taken = {r["doc_id"] for r in rows}
    plain_pool = [c for c in cands if c.doc_id not in taken and WIRE.search(c.text[:200])
                  and c.cue_density < 2.0]
    random.Random(seed).shuffle(plain_pool)
    rows += [{"doc_id": c.doc_id, "source": c.source, "group": "plain",
              "why": f"wire report, cue density {c.cue_density:.1f}/1k chars, clickbait={c.clickbait}"}
             for c in plain_pool[:n_plain]]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=hancd_dir())
    ap.add_argument("--rich", type=int, default=75)
    ap.add_argument("--plain", type=int, default=30)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--min-chars", type=int, default=400)
    ap.add_argument("--max-chars", type=int, default=3000)
    ap.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()
    rows = select(args.corpus, args.rich, args.plain, args.seed, args.min_chars, args.max_chars)
    args.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                           encoding="utf-8")


if __name__ == "__main__":
    main()
