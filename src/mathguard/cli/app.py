"""The `mathguard` command group and its error policy.

Exit codes mean one thing each, so a CI gate can tell them apart: 0 clean, 1 findings at or
above the gate, 2 a user mistake (MathguardError, unreadable or missing files, bad options:
one line on stderr), 3 a bug in mathguard (one line asking for a report; never a finding).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, NoReturn

import click

from mathguard.errors import InputError, MathguardError
from mathguard.report import Report, Severity, write_all

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
ISSUES_HINT = "please report it with the command you ran"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"mathguard: {message}", err=True)
    sys.exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own usage errors (exit 2) and exits
        except (MathguardError, OSError) as exc:
            _fail(f"error: {_first_line(exc)}", EXIT_USAGE)
        except KeyboardInterrupt:
            _fail("cancelled", 130)
        except Exception as exc:  # anything else is our bug: exit 3, never the "findings" code 1
            _fail(f"internal error: {type(exc).__name__}: {_first_line(exc)} ({ISSUES_HINT})", EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mathguard")
def main() -> None:
    """Audit, attack, certify, defend and monitor ML models through their mathematics."""


def severity_option(default: str = "high") -> Any:
    """The --fail-on option shared by every command that gates CI."""
    return click.option(
        "--fail-on",
        type=click.Choice([s.name.lower() for s in Severity] + ["never"], case_sensitive=False),
        default=default,
        show_default=True,
        help="Exit 1 when a finding at or above this severity is present ('never' to disable).",
    )


def random_state_option(what: str, default: int | None = 0) -> Any:
    """--random-state, spelled alike everywhere; ``what`` says which draws it seeds."""
    return click.option("--random-state", type=int, default=default, show_default=default is not None,
                        help=f"Seed of {what}: the same seed gives the same numbers.")


def quiet_option(func: Any) -> Any:
    """--quiet/-q, spelled alike in every command so CI scripts can pass it to any of them."""
    return click.option("--quiet", "-q", is_flag=True,
                        help="No progress bar and no terminal summary; only the exit code and files.")(func)


def report_options(func: Any) -> Any:
    """--html, --json and --quiet: the outputs of every command that ends in :func:`finish`."""
    func = quiet_option(func)
    func = click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
                        help="Write the JSON report here.")(func)
    return click.option("--html", "html", default=None, type=click.Path(dir_okay=False),
                        help="Write the self-contained HTML report here.")(func)


def model_file(spec: str) -> str:
    """The file behind a --model spec ('net.py:build' → 'net.py')."""
    head, _, tail = spec.rpartition(":")
    return head if head and tail.isidentifier() else spec


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_outputs(outputs: Mapping[str, str | None], inputs: Iterable[str | None] = ()) -> None:
    """Refuse bad output paths before any work starts.

    Each output must be a file name (not a directory) in an existing, writable directory;
    no two outputs may be the same file, and none may be one of the inputs (it would be
    overwritten by its own report).
    """
    seen: dict[str, Path] = {}
    for option, text in outputs.items():
        if not text:
            continue
        path = Path(text)
        if path.is_dir():
            raise InputError(f"{option} {text} is a directory; give a file name")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"{option}: directory {parent} does not exist (mathguard does not create it)")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{option}: cannot write in {parent}")
        for other, other_path in seen.items():
            if _same_file(path, other_path):
                raise InputError(f"{other} and {option} both name {text}; give two different files")
        for source in inputs:
            if source and _same_file(path, Path(source)):
                raise InputError(f"{option} {text} is also an input; writing the report would overwrite it")
        seen[option] = path


class activity:
    """Shows that long work runs: a bar with an ETA once steps are known, a spinner with elapsed time before.

    Only on an interactive terminal (stderr); silent in CI, in pipes and with --quiet, so logs
    and captured output stay clean.
    """

    def __init__(self, description: str, quiet: bool = False) -> None:
        self.description, self.bar, self.task = description, None, None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)

    def __enter__(self) -> "activity":
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=None)
        return self

    def update(self, step: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` steps, the next being ``step``."""
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.description}: {step}", completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def finish(report: Report, html: str | None, json_path: str | None, fail_on: str, quiet: bool = False,
           also: Mapping[str, str] | None = None) -> None:
    """Write the requested outputs (all or nothing), print the summary and exit with the gate's code.

    ``also`` maps further output files (checked by the caller) to their text; they land with the reports.
    """
    check_outputs({"--json": json_path, "--html": html})
    texts = dict(also or {})
    if json_path:
        texts[json_path] = report.to_json()
    if html:
        texts[html] = report.to_html()
    write_all(texts)
    if not quiet:
        report.show()
    fail_on = fail_on.lower()
    code = EXIT_OK if fail_on == "never" else report.gate(fail_on)
    sys.exit(code)
