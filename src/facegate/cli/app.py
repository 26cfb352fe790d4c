"""The shared pieces of the command line: the Typer apps, consoles and error handling.

Exit codes are a contract (PAM and scripts rely on them): 0 match / success,
1 no match, 2 error. Library errors are turned into messages and codes here and
only here; templates never reach the command line's output.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.logging import RichHandler
from rich.markup import escape

from facegate.errors import EXIT_CODE, FaceGateError, lookup

if TYPE_CHECKING:
    from rich.progress import Progress

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="FaceGate: private, offline face unlock.",
    no_args_is_help=True,
    context_settings=HELP,
    rich_markup_mode="markdown",
)
eval_app = typer.Typer(
    help="Measure accuracy the way biometric systems are measured.", context_settings=HELP
)
app.add_typer(eval_app, name="eval")
bench_app = typer.Typer(
    help="Benchmarks: medians of repeated runs, with the machine stated.",
    context_settings=HELP,
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

PIPED_WIDTH = 4096
"""Columns when the output is not a terminal: far beyond any path, digest or table."""


class _Console(Console):
    """A console that folds to the terminal's width, and to none when piped.

    Rich assumes 80 columns when it is not writing to a terminal, so a script reading
    ``facegate doctor | grep sha256`` would get a digest cut over two lines.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


out = _Console()
err = _Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

EXTRA = {
    "fastapi": "server",
    "uvicorn": "server",
    "jinja2": "server",
    "pythonosc": "server",
    "limits": "server",
    "matplotlib": "eval",
    "dlib": "baseline",
    "face_recognition_models": "baseline",
}
"""The optional extra (pyproject.toml) that brings each module a command may need."""


UserArgument = Annotated[str, typer.Argument(metavar="USER")]
SourcesArgument = Annotated[
    list[str], typer.Argument(metavar="SOURCE...", help="Images, a video, or a camera index.")
]
"""The person and the capture sources of enrol, add and verify, spelt alike in each usage."""

READ_FRAMES = typer.Option("--read-frames", help="Frames to read per video or camera.")
"""How many frames a command reads from each video or camera (enrolment, login enrolment)."""


def progress_bar() -> Progress:
    """A progress display on stderr (spinner, task, bar, done of total) for long work.

    Into a file or a pipe Rich draws nothing until the end, so a long job would look
    hung there: each task then says on one line that it started. rich.progress is
    imported here, when a command shows progress, so ``--help`` does not pay for it.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    class _Announced(Progress):
        def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any:
            if not err.is_terminal:
                total = kwargs.get("total", args[1] if len(args) > 1 else 100.0)
                of = "" if total is None else f" ({int(total)} to do)"
                err.print(f"{description}{of} ...", highlight=False, markup=False)
            return super().add_task(description, *args, **kwargs)

    return _Announced(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err,
    )  # fmt: skip


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"facegate {version('facegate')}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show FaceGate's log on stderr, native libraries' start-up lines included.",
        ),
    ] = False,
) -> None:
    """FaceGate: private, offline face unlock."""
    logger = logging.getLogger("facegate")
    for handler in [h for h in logger.handlers if h.get_name() == LOG_HANDLER]:
        logger.removeHandler(handler)  # one process may run several commands (tests)
    logger.setLevel(logging.DEBUG if verbose else logging.NOTSET)
    if verbose:
        logger.addHandler(_log_handler())


LOG_HANDLER = "facegate-cli"
"""The name of the handler ``-v`` adds, so a second command in one process replaces it."""


def _log_handler() -> logging.Handler:
    """Rich's columns on a terminal; plain lines when stderr is a file or a pipe, where
    Rich would pad every line to the piped console's width."""
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(console=err, show_path=False)
    else:
        handler = logging.StreamHandler(err.file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(LOG_HANDLER)
    return handler


def friendly(func: F) -> F:
    """Turn FaceGate errors into a one-line message and the table's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaceGateError as exc:
            if kwargs.get("as_json") is True:  # a script asked for JSON: the error is JSON too
                error = {"error": type(exc).__name__, "message": str(exc)}
                out.print_json(json.dumps(error))
                raise typer.Exit(lookup(EXIT_CODE, exc)) from None
            # Escaped (a path may hold "[/x]", read as markup) and never wrapped: one line.
            err.print(
                f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(lookup(EXIT_CODE, exc)) from None
        except ModuleNotFoundError as exc:
            extra = EXTRA.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            err.print(
                "[bold red]error:[/] "
                + escape(f"this command needs {exc.name}: pip install 'facegate[{extra}]'"),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_CODE[FaceGateError]) from None

    return wrapper  # type: ignore[return-value]


def command_line() -> str:
    """The command as typed, recorded in reports so a figure can be reproduced."""
    return "facegate " + " ".join(shlex.quote(a) for a in sys.argv[1:])
