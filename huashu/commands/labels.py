"""`huashu labels ...`: outputs generated from labels/taxonomy.yaml.

The group is ``labels_app``; other steps add their subcommands to it (e.g. `labels stats`) with
``@labels_app.command("stats")`` in this module or by importing ``labels_app``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

labels_app = typer.Typer(
    name="labels",
    help="The device taxonomy (labels/taxonomy.yaml) and what is generated from it: "
    "the Label Studio config and the annotation guidelines.",
    no_args_is_help=True,
)


def _taxonomy():
    from huashu.cli import UserError
    from huashu.taxonomy import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy()
    except TaxonomyError as e:
        raise UserError(str(e)) from None


@labels_app.command("config")
def config(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the XML here instead of printing it.")] = None,
) -> None:
    """Print (or write) the Label Studio labelling config generated from the taxonomy."""
    from huashu.labelconfig import label_studio_config

    xml = label_studio_config(_taxonomy())
    if output is None:
        sys.stdout.write(xml)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(xml, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


@labels_app.command("guidelines")
def guidelines(
    check: Annotated[bool, typer.Option(
        "--check", help="Do not write; exit 1 if labels/guidelines.md is stale.")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write (default labels/guidelines.md).")] = None,
) -> None:
    """Regenerate the annotation guidelines (labels/guidelines.md) from the taxonomy."""
    from huashu.guidelines import guidelines_path, guidelines_stale, write_guidelines

    taxonomy = _taxonomy()
    path = output or guidelines_path()
    if check:
        if guidelines_stale(taxonomy, path):
            typer.secho(f"{path} is stale: run `huashu labels guidelines`", err=True, fg="red")
            raise typer.Exit(1)
        typer.echo(f"{path} is up to date", err=True)
        return
    write_guidelines(taxonomy, path)
    typer.echo(f"wrote {path}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")
