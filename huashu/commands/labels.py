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
    from huashu.errors import UserError
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


@labels_app.command("stats")
def stats(
    annotations_dir: Annotated[Path | None, typer.Option(
        "--annotations-dir", help="Standoff store (default labels/annotations).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Gold corpus statistics: articles, spans per label, chars, annotators, agreement."""
    import json

    from rich.console import Console
    from rich.table import Table

    from huashu.annotations import iter_store
    from huashu.errors import UserError
    from huashu.gold import corpus_stats, resolve_texts
    from huashu.paths import annotations_dir as default_dir

    directory = annotations_dir or default_dir()
    try:
        records = list(iter_store(directory))
        texts = resolve_texts(records)
    except ValueError as e:
        raise UserError(str(e)) from None
    result = corpus_stats(records, texts)
    try:
        from huashu.studio.agreement import agreement

        rep = agreement(records)
        result["agreement"] = {"documents": rep.documents,
                               "pairs": [{"a": p.a, "b": p.b, "docs": p.docs,
                                          "micro": p.scores.get("micro")} for p in rep.pairs]}
    except Exception as e:  # agreement is informative here; stats stand without it
        result["agreement"] = {"error": str(e)}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=1, default=str))
        return
    console = Console()
    table = Table(title=f"gold corpus ({directory})")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("articles", "articles_without_spans", "spans", "chars", "spans_per_1000_chars",
                "double_annotated", "adjudicated"):
        table.add_row(key, str(result.get(key, "")))
    by_corpus = result["articles_by_corpus"]
    table.add_row("articles by corpus", ", ".join(f"{k} {v}" for k, v in by_corpus.items()))
    table.add_row("annotators", ", ".join(f"{k} {v}" for k, v in result["annotators"].items()))
    rv = result["review"]
    if rv.get("documents"):
        table.add_row("review of single annotations",
                      f"{rv['documents']} docs: {rv['first_spans']} first spans → {rv['gold_spans']} gold; "
                      f"{rv['kept_exactly']} kept exactly, {rv['changed_or_dropped']} changed or dropped, "
                      f"{rv['added_or_changed']} added or changed; first vs gold partial F1 "
                      f"{rv['partial_f1']}, exact {rv['exact_f1']}")
    console.print(table)
    labels_table = Table(title="spans per label")
    labels_table.add_column("label")
    labels_table.add_column("spans", justify="right")
    for label, n in result["spans_per_label"].items():
        labels_table.add_row(label, str(n))
    console.print(labels_table)
    agr = result["agreement"]
    for pair in agr.get("pairs", []):
        console.print(f"agreement {pair['a']} vs {pair['b']} on {pair['docs']} documents: {pair['micro']}")
    if result["awaiting_adjudication"]:
        console.print(f"awaiting adjudication: {', '.join(result['awaiting_adjudication'])}")


@labels_app.command("export-semeval")
def export_semeval_cmd(
    output: Annotated[Path, typer.Argument(help="Folder for article<id>.txt + .labels.tsv files.")],
) -> None:
    """Export the gold corpus in SemEval-2020 T11 format (text + technique/start/end files).

    The export holds article text: keep HanCD exports outside the repository."""
    from huashu.errors import UserError
    from huashu.gold import export_semeval

    try:
        n = export_semeval(output)
    except ValueError as e:
        raise UserError(str(e)) from None
    typer.echo(f"wrote {n} articles to {output}", err=True)
