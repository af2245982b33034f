"""The `huashu` console script.

Each step of the data flow registers its own subcommands from a module in
``huashu/commands/`` (``register(app)``), so steps stay independent and heavy libraries
(torch, transformers, Label Studio SDK) are imported only by the command that runs.

    ingest → labels / studio → dataset → train → eval → export → score / serve / bench → report
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module

import typer

from huashu.errors import UserError
from huashu.log import setup_logging

log = logging.getLogger("huashu")

app = typer.Typer(
    name="huashu",
    help="话术 huashu: find rhetorical and propaganda devices in Chinese articles.\n\n"
    "Data flow: ingest → labels/studio → dataset → train → eval → export → score/serve/bench → report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per step; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = [
    "huashu.commands.ingest",
    "huashu.commands.labels",
    "huashu.commands.score",
    "huashu.commands.report",
    "huashu.commands.studio",
    "huashu.commands.base",
    "huashu.commands.model",
    "huashu.commands.serve",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that step is not built yet
                continue
            raise
        module.register(app)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging("DEBUG" if verbose else None)


def main() -> None:
    _register_all()
    try:
        app()
    except UserError as e:
        typer.secho(f"huashu: error: {e}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("huashu: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    # `python -m huashu.cli` runs this file as __main__, a second copy of the module; the UserError
    # it catches is huashu.errors.UserError, the one class every command raises.
    main()
