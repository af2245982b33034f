"""`huashu studio …`: the Label Studio labelling workflow (see huashu/studio/)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

studio_app = typer.Typer(
    name="studio",
    help="Label Studio workflow: up/down/status, push tasks, pull annotations, agreement, next batch.",
    no_args_is_help=True,
)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="HUASHU_STUDIO_DIR",
    help="Studio dir (LS database, credentials). Default: <huashu data dir>/studio.")]
Url = Annotated[str | None, typer.Option(
    "--url", envvar="HUASHU_LS_URL", help="Use this LS server instead of the local one.")]
Token = Annotated[str | None, typer.Option(
    "--token", envvar="HUASHU_LS_TOKEN", help="Personal access token for --url.")]
Project = Annotated[int | None, typer.Option(
    "--project", help="LS project id (default: the one `studio up` manages).")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
StoreDir = Annotated[Path | None, typer.Option(
    "--annotations-dir", help="Standoff store dir (default labels/annotations).")]


def _console():
    from rich.console import Console

    return Console()


def _connect(data_dir: Path | None, url: str | None, token: str | None):
    from huashu.studio.server import connect, studio_dir

    sdir = studio_dir(data_dir) if not url or data_dir else None
    return connect(sdir, url, token)


def _detector(spec: str):
    if spec == "none":
        return None
    from huashu.detector import DetectorError, load_detector
    from huashu.studio import StudioError

    try:
        return load_detector(spec)
    except DetectorError as e:
        raise StudioError(str(e)) from None


@studio_app.command()
def up(
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="Port on 127.0.0.1 (default: the last one if free, else any free one).")] = None,
    title: Annotated[str, typer.Option("--title", help="LS project title.")] = "huashu",
    ml_backend: Annotated[str | None, typer.Option(
        "--ml-backend", help="Register this scoring-server URL (huashu serve) as the ML backend.")] = None,
    install: Annotated[bool, typer.Option(
        "--install/--no-install", help="Install Label Studio into .venv-ls if missing.")] = True,
) -> None:
    """Start Label Studio (installing it if needed) and create/update the project from the taxonomy."""
    from huashu.studio.project import connect_ml, ensure_project
    from huashu.studio.server import connect, start, studio_dir

    sdir = studio_dir(data_dir)
    state, started = start(sdir, port=port, auto_install=install)
    studio = connect(sdir)
    proj = ensure_project(studio, title=title)
    con = _console()
    con.print(f"[bold green]Label Studio {'started' if started else 'already running'}[/] at {state.url} "
              f"(pid {state.pid}, log {state.log})")
    con.print(f"project {proj.project_id} {proj.title!r}: labelling config {proj.action}")
    con.print(f"open {state.url}/projects/{proj.project_id}/data")
    con.print(f"login and API token: {sdir / 'credentials.json'} (mode 0600, outside the repo)")
    if ml_backend:
        backend_id, created = connect_ml(studio, proj.project_id, ml_backend)
        con.print(f"ML backend {ml_backend}: {'registered' if created else 'already registered'} "
                  f"(id {backend_id})")


@studio_app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop the Label Studio server started by `studio up`."""
    from huashu.studio.server import stop, studio_dir

    sdir = studio_dir(data_dir)
    _console().print("Label Studio stopped" if stop(sdir) else f"no Label Studio running from {sdir}")


@studio_app.command()
def status(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Is the server up, where, which project (exit 1 when it is not running)."""
    from huashu.studio.project import project_state
    from huashu.studio.server import ServerState, healthy, running, studio_dir

    sdir = studio_dir(data_dir)
    state = running(sdir)
    info = {"studio_dir": str(sdir), "running": bool(state), "healthy": bool(state and healthy(state.url)),
            "url": state.url if state else None, "pid": state.pid if state else None,
            "project": project_state(sdir).get("project_id"),
            "credentials": str(sdir / "credentials.json")}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    elif not state:
        last = ServerState.load(sdir)
        _console().print(f"Label Studio is not running (studio dir {sdir}"
                         + (f", last at {last.url}" if last else "") + "): `huashu studio up`")
    else:
        _console().print(f"Label Studio {'up' if info['healthy'] else 'starting/not answering'} at "
                         f"{state.url} (pid {state.pid}); project {info['project']}; "
                         f"credentials {info['credentials']}")
    if not state:
        raise typer.Exit(1)


@studio_app.command()
def push(
    paths: Annotated[list[Path], typer.Argument(
        help="Ingested JSONL (`huashu ingest -o`) or raw files/directories (ingested here).")],
    detector: Annotated[str, typer.Option(
        "--detector", help="Pre-annotations from: rules | <model dir> | default | none.")] = "rules",
    max_chars: Annotated[int, typer.Option(
        "--max-chars", help="Split longer documents at paragraph boundaries into linked tasks.")] = 20000,
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="Corpus name in the store (default: from ingest, e.g. seeds/hancd).")] = None,
    project: Project = None, data_dir: DataDir = None, url: Url = None, token: Token = None,
) -> None:
    """Import documents as tasks with pre-annotations (never duplicates a document)."""
    from huashu.studio.push import load_documents, push_documents

    docs = load_documents(paths)
    det = _detector(detector)
    studio = _connect(data_dir, url, token)
    pid = studio.project_id(project)
    res = push_documents(studio, pid, docs, det, max_chars=max_chars, corpus=corpus)
    _print_push(res)


def _print_push(res) -> None:
    con = _console()
    con.print(f"project {res.project_id}: {len(res.created)} task(s) created from "
              f"{res.docs - len(res.skipped)} document(s), {res.predictions} pre-annotated span(s)"
              + (f" ({res.model_version})" if res.model_version else ""))
    if res.skipped:
        con.print(f"{len(res.skipped)} document(s) already in the project, not pushed again: "
                  + ", ".join(res.skipped[:10]) + (" …" if len(res.skipped) > 10 else ""))
    for r in res.rows:
        if r["tasks"] > 1:
            con.print(f"  {r['doc_id']}: {r['chars']} chars split into {r['tasks']} linked tasks")


@studio_app.command()
def pull(
    annotations_dir: StoreDir = None,
    export: Annotated[Path | None, typer.Option(
        "--export", help="Pull from an LS JSON export file instead of the server.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    as_json: AsJson = False,
    project: Project = None, data_dir: DataDir = None, url: Url = None, token: Token = None,
) -> None:
    """Export submitted annotations into the standoff store (validated, idempotent, history kept)."""
    from huashu.studio import pull as pull_mod

    if export is not None:
        report = pull_mod.pull_export(pull_mod.load_export(export), project, {}, annotations_dir, dry_run)
    else:
        studio = _connect(data_dir, url, token)
        report = pull_mod.pull(studio, studio.project_id(project), annotations_dir, dry_run)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    con = _console()
    con.print(f"{report.tasks} task(s), {report.annotations} submitted annotation(s) → {report.records} "
              f"record(s): {len(report.added)} new, {len(report.changed)} changed (old spans kept in "
              f"history), {report.unchanged} unchanged" + (" [dry run]" if dry_run else ""))
    for key in report.changed:
        con.print(f"  changed in LS: {key[1]} by {key[2]} ({key[0]})")
    for key in report.removed_in_ls:
        con.print(f"  [yellow]gone from LS, kept in the store:[/] {key[1]} by {key[2]} ({key[0]})")
    for why in report.skipped:
        con.print(f"  skipped: {why}")
    for f in report.files:
        con.print(f"  wrote {f}")


@studio_app.command()
def annotate(
    user: Annotated[str, typer.Option("--user", help="Annotator e-mail (created in LS if missing).")],
    file: Annotated[Path, typer.Option(
        "--file", help='JSONL: {"doc_id", "spans": [{start,end,label} | {label,quote,prefix?,suffix?}]}.')],
    replace: Annotated[bool, typer.Option(
        "--replace",
        help="Update this user's existing annotations (old spans go to history on pull).")] = False,
    project: Project = None, data_dir: DataDir = None, url: Url = None, token: Token = None,
) -> None:
    """Import annotations made outside the LS UI, as a named LS user."""
    from huashu.studio import annotate as annotate_mod

    rows = annotate_mod.read_input(file)
    studio = _connect(data_dir, url, token)
    res = annotate_mod.annotate(studio, studio.project_id(project), user, rows, replace=replace)
    n_spans = sum(len(p.spans) for p in res.plans)
    _console().print(f"{user} (LS user {res.user_id}): {len(res.created)} annotation(s) created, "
                     f"{len(res.replaced)} replaced, {n_spans} span(s) on {len(res.plans)} task(s)")


@studio_app.command()
def agreement(
    annotations_dir: StoreDir = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Only this corpus.")] = None,
    docs: Annotated[list[Path] | None, typer.Option(
        "--docs", help="Documents (ingested JSONL or raw files) to quote disagreements from, "
                       "when the corpus cannot resolve them.")] = None,
    as_json: AsJson = False,
    max_disagreements: Annotated[int, typer.Option(
        "--max-disagreements", help="How many disagreements to list (all in --json).")] = 30,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Leave out this document id (repeatable), e.g. one whose answer leaked "
                          "into the guidelines.")] = None,
) -> None:
    """Inter-annotator agreement on documents with ≥2 annotators: span F1 (partial and exact)."""
    from huashu.studio.agreement import compute, print_report

    texts = None
    if docs:
        from huashu.studio.push import load_documents

        texts = {d.id: d for d in load_documents(docs)}
    rep = compute(annotations_dir, corpus=corpus, docs=texts, exclude=exclude or ())
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(rep, _console(), max_disagreements)


@studio_app.command("next")
def next_cmd(
    pool: Annotated[list[Path], typer.Option(
        "--pool", help="Unlabelled documents: JSONL, CSV (HanCD) or a directory; repeatable.")],
    k: Annotated[int | None, typer.Option(
        "--k", help="How many documents to choose and push (default 10; with --quota: the quotas' total, "
                    "and --k, if given, must agree).")] = None,
    detector: Annotated[str, typer.Option(
        "--detector", help="default | rules | <model dir>: uncertainty and pre-annotations.")] = "default",
    lam: Annotated[float, typer.Option(
        "--lambda", help="MMR trade-off: 1 = uncertainty only, 0 = diversity only.")] = 0.7,
    stratify: Annotated[list[str] | None, typer.Option(
        "--stratify", help="Choose within strata of this document field (repeatable): source (the corpus "
                           "file: sina, tencent), wire (news-agency dateline 0/1) or any meta key, e.g. "
                           "clickbait_label. A document without the field is in stratum value 'none'.",
    )] = None,
    quota: Annotated[list[str] | None, typer.Option(
        "--quota", help="VALUE=K: pick K in the stratum whose values, joined by '/' in --stratify order, are "
                        "VALUE (e.g. sina/0=45); repeatable. Strata without a quota get none. Without "
                        "--quota, --k is split evenly over the strata.")] = None,
    skip_longer: Annotated[int | None, typer.Option(
        "--skip-longer", help="Leave documents longer than this many characters out of the pool.")] = None,
    selection_out: Annotated[Path | None, typer.Option(
        "--selection-out", help="Write the picks as JSONL (doc id, stratum, signal, MMR score, model "
                                "version; no article text), like labels/batches/batch4.selection.jsonl.",
    )] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Rank and report; push nothing.")] = False,
    max_chars: Annotated[int, typer.Option(
        "--max-chars", help="Split longer documents into linked tasks when pushing.")] = 20000,
    annotations_dir: StoreDir = None, as_json: AsJson = False,
    project: Project = None, data_dir: DataDir = None, url: Url = None, token: Token = None,
) -> None:
    """Choose the next batch by model uncertainty + diversity (per stratum with --stratify), push it
    with pre-annotations."""
    from huashu.studio.next import choose, parse_quotas, plan, print_choice
    from huashu.studio.push import load_documents, push_documents

    fields = stratify or []
    quotas = parse_quotas(quota or [], fields)
    docs = load_documents(pool)
    plan(docs, k, fields, quotas, skip_longer)  # bad options fail before a model loads or LS is asked
    det = _detector(detector)
    studio = None if dry_run and not url else _connect(data_dir, url, token)
    pid = studio.project_id(project) if studio else None
    choice = choose(docs, det, k, lam=lam, studio=studio, project_id=pid, store_dir=annotations_dir,
                    stratify=fields, quotas=quotas, skip_longer=skip_longer)
    if as_json:
        typer.echo(json.dumps(choice.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_choice(choice, _console())
    if not dry_run and choice.picked:
        chosen = [c.doc for c in choice.picked]
        res = push_documents(studio, pid, chosen, det, max_chars=max_chars,
                             spans={c.doc.id: c.spans for c in choice.picked},
                             model_version=choice.model_version)
        if not as_json:
            _print_push(res)
    if selection_out is not None:
        choice.write_selection(selection_out)
        if not as_json:
            _console().print(f"wrote {len(choice.picked)} selection row(s) to {selection_out}")


@studio_app.command("connect-ml")
def connect_ml_cmd(
    backend_url: Annotated[str, typer.Argument(help="The scoring server, e.g. http://127.0.0.1:8000")],
    project: Project = None, data_dir: DataDir = None, url: Url = None, token: Token = None,
) -> None:
    """Register the scoring server's ML-backend routes with the LS project."""
    from huashu.studio.project import connect_ml

    studio = _connect(data_dir, url, token)
    pid = studio.project_id(project)
    backend_id, created = connect_ml(studio, pid, backend_url)
    _console().print(f"ML backend {backend_url} {'registered' if created else 'already registered'} "
                     f"with project {pid} (id {backend_id})")


def register(app: typer.Typer) -> None:
    app.add_typer(studio_app, name="studio")
