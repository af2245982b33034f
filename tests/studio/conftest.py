"""One real Label Studio server for the whole studio test session (started by `huashu studio up`
on a free loopback port in a tmp studio dir; ~30 s on a fresh database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from huashu.studio.server import ServerState, connect, ls_binary, stop

REPO = Path(__file__).resolve().parents[2]

# An article with an emoji and an astral CJK character before the spans, traditional characters
# and full-width punctuation: offsets must be code points end to end.
ARTICLE = (
    "美國國債遭拋售？\n"
    "麻烦您点击一下“关注”😀，每天为您带来新鲜资讯！\n"
    "根據權威資料，結合個人觀點撰寫：𠮷野家的老闆說，這是一記釜底抽薪。\n"
    "有分析人士指出，美方此举无异于掩耳盗铃。\n"
)
LONG_ARTICLE = "\n".join(
    f"第{i}段：最新數據顯示，市场情绪持续波动，投资者应当保持冷静，理性看待短期起伏。" for i in range(1, 9)
) + "\n这一招可谓釜底抽薪😀。\n"


def huashu(*args: str, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    full_env = dict(os.environ)
    full_env.pop("HUASHU_STUDIO_DIR", None)
    full_env.pop("HUASHU_LS_URL", None)
    full_env.pop("HUASHU_LS_TOKEN", None)
    full_env["COLUMNS"] = "200"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "huashu.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="session")
def studio_dir(tmp_path_factory: pytest.TempPathFactory):
    if ls_binary() is None:
        pytest.skip("Label Studio is not installed (make studio-env)")
    sdir = tmp_path_factory.mktemp("studio")
    run = huashu("studio", "up", "--data-dir", str(sdir), "--no-install")
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        yield sdir, run
    finally:
        stop(sdir)


@pytest.fixture(scope="session")
def studio(studio_dir):
    sdir, _ = studio_dir
    return connect(sdir)


@pytest.fixture(scope="session")
def server_state(studio_dir) -> ServerState:
    state = ServerState.load(studio_dir[0])
    assert state is not None
    return state


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("docs")
    (d / "emoji_trad.txt").write_text(ARTICLE, encoding="utf-8")
    (d / "long_split.txt").write_text(LONG_ARTICLE, encoding="utf-8")
    return d


# Invented sentences for HanCD-like pools (the HanCD layout label,title,text,source; no corpus text).
PHRASES = [
    "有分析人士指出，此举无异于掩耳盗铃。",
    "网友纷纷表示，这必然会让局势彻底失控？",
    "明天多云，最高气温二十度。",
    "业内人士指出，油价注定要涨，这是大势所趋。",
    "专家认为，投资者应当保持冷静，理性看待短期起伏。",
    "新华社北京电 记者报道，会议今日召开。",
    "据了解，这一招可谓釜底抽薪！",
    "公园里的银杏叶黄了，游客络绎不绝。",
    "麻烦您点击一下“关注”，每天为您带来新鲜资讯！",
    "本市地铁新线路将于下月开通运营。",
]


def write_hancd_like(path: Path, n: int, long_rows: tuple[int, ...] = ()) -> Path:
    """A CSV in the HanCD column layout with ``n`` invented rows, label alternating 1, 0, 1, …
    (row i's text: phrases i, i+3, i+7 …; ``long_rows`` get 40 repetitions, > 600 characters)."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["label", "title", "text", "source"])
        for i in range(n):
            body = "".join(PHRASES[(i * j + j) % len(PHRASES)] for j in range(1, 4))
            if i in long_rows:
                body *= 40
            title = f"{path.stem}第{i}号：{'惊天逆转？' if i % 2 == 0 else '通知'}"
            out.writerow([1 - i % 2, title, body, path.stem])
    return path
