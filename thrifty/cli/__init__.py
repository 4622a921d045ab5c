"""The `thrifty` command: a thin layer that parses arguments and calls the library.

Each part of thrifty adds its commands from its own `commands` module through a
`register(app)` function, listed in `_COMMAND_MODULES`; this file holds no logic of its own.
"""

from __future__ import annotations

import atexit
import gc
import importlib

import typer

from thrifty._version import __version__

_COMMAND_MODULES: tuple[str, ...] = (
    "thrifty.cli.train",
    "thrifty.cli.trace",
    "thrifty.cli.codec",
    "thrifty.cli.simulate",
    "thrifty.cli.quickstart",
    "thrifty.cli.hw",
    "thrifty.cli.export",
)

app = typer.Typer(
    name="thrifty",
    help="Learn minimal bitlengths during training and simulate term-serial bfloat16 "
    "training accelerators on the tensors that training really produces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"thrifty {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """thrifty: learned bitlengths and term-serial accelerator simulation."""


for _module in _COMMAND_MODULES:
    importlib.import_module(_module).register(app)


_exit_hook_registered = False


def _spare_final_collections() -> None:
    """Run at exit: move every object to the collector's permanent generation (`gc.freeze`).

    The interpreter's shutdown runs several full collections over every object left, and with
    torch and numba loaded those take 0.4-0.7 s of a command's wall time (measured on
    `thrifty simulate`); objects are still freed by reference counting as modules are cleared.
    """
    gc.freeze()


def main() -> None:
    """Entry point of the `thrifty` console script; ThriftyErrors become one-line messages.

    Registers `_spare_final_collections` to run at the process's exit (once per process): the
    console script's process ends when the command does, so nothing else is affected.
    """
    from thrifty.errors import ThriftyError

    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_spare_final_collections)
        _exit_hook_registered = True
    try:
        app()
    except ThriftyError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
