"""The ``dlm`` command: ska-dlm's command groups (one command per REST operation), plus
``login``, ``status``, ``watch``, ``ingest register-dir`` and ``migration copy-data-item --wait``.

Exit codes: 0 ok, 1 the server refused (its message on stderr), 2 usage, 3 the server cannot be
reached."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from dlm_cli import __version__
from dlm_cli.client import Client, Refused, Unreachable
from dlm_cli.config import Settings, resolve
from dlm_cli.operations import ALIASES, GROUPS, OPERATIONS, Op
from dlm_cli.output import Printer

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3


@dataclass
class State:
    """What the global options say, and the client and printer they make."""

    url: str | None
    token: str | None
    as_json: bool
    extra_secrets: list[str] = field(default_factory=list)

    @cached_property
    def settings(self) -> Settings:
        return resolve(self.url, self.token)

    @cached_property
    def client(self) -> Client:
        return Client(self.settings.url, self.settings.token)

    @property
    def printer(self) -> Printer:
        return Printer(as_json=self.as_json, secrets=(self.settings.token, *self.extra_secrets))


def run(state: State, action) -> Any:
    """Run ``action()``; a refusal or an unreachable server ends the command with its exit code."""
    try:
        return action()
    except Refused as exc:
        state.printer.error(f"HTTP {exc.status}: {exc.message}")
        raise click.exceptions.Exit(REFUSED) from None
    except Unreachable as exc:
        state.printer.error(str(exc))
        raise click.exceptions.Exit(UNREACHABLE) from None


class Group(click.Group):
    """A command group that also answers to each command's aliases."""

    aliases: dict[str, str]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


# --- the operations' commands --------------------------------------------------------------------


def json_value(text: str, *, kind: str, option: str) -> Any:
    """A JSON parameter: JSON text, ``@file.json``, or ``@-`` for standard input."""
    if text.startswith("@"):
        name = text[1:]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {name}: {exc.strerror}", param_hint=option) from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})", param_hint=option) from None
    wanted = dict if kind == "object" else list
    if not isinstance(value, wanted):
        raise click.BadParameter(f"must be a JSON {kind}", param_hint=option)
    return value


def _dashed(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(op: Op, name: str, choices: tuple[str, ...]) -> str | None:
    return f"One of: {', '.join(choices)}." if choices else None


def operation_command(op: Op) -> click.Command:
    """The command for one operation: required values positionally (upstream's way) or as
    options, every other parameter as a dashed option, the body as JSON text or @file."""
    params: list[click.Parameter] = []
    positional = [p for p in op.params if p.required]
    for p in positional:
        params.append(click.Argument([f"{p.name}__arg"], required=False, metavar=p.name.upper()))
    if op.body and op.body.positional:
        params.append(click.Argument([f"{op.body.name}__arg"], required=False, metavar=op.body.name.upper()))
    for p in op.params:
        if p.kind == "bool":
            flag = p.name.replace("_", "-")
            params.append(click.Option([f"--{flag}/--no-{flag}", p.name], default=None, help=_help(op, p.name, ())))
        else:
            kind = click.INT if p.kind == "int" else click.STRING
            text = _help(op, p.name, p.choices)
            if p.required:
                text = (text + " " if text else "") + "Required (or give it positionally)."
            params.append(click.Option([_dashed(p.name), p.name], type=kind, help=text))
    if op.body:
        what = f"JSON {op.body.kind}, or @file.json (@- reads standard input)"
        params.append(click.Option([_dashed(op.body.name), op.body.name], help=what))

    def callback(**values: Any) -> None:
        state: State = click.get_current_context().find_object(State)
        query: dict[str, Any] = {}
        for p in op.params:
            value = values.get(p.name)
            if value is None and p.required:
                value = values.get(f"{p.name}__arg")
                if value is None:
                    raise click.UsageError(f"Missing option '{_dashed(p.name)}' (or argument {p.name.upper()}).")
            if value is not None:
                query[p.name] = value
        body = None
        if op.body:
            text = values.get(op.body.name) or values.get(f"{op.body.name}__arg")
            if text is None and op.body.required:
                raise click.UsageError(f"Missing option '{_dashed(op.body.name)}' (a JSON {op.body.kind}).")
            if text is not None:
                body = json_value(text, kind=op.body.kind, option=_dashed(op.body.name))
        if op.operation == "copy_data_item" and values.get("wait"):
            from dlm_cli.copying import copy_and_wait

            raise click.exceptions.Exit(copy_and_wait(state, query))
        answer = run(state, lambda: state.client.call(op.method, op.path, query, body))
        state.printer.answer(answer)

    if op.operation == "copy_data_item":
        params.append(
            click.Option(
                ["--wait"], is_flag=True, help="Wait for the copy job, with a progress bar; exit with its result."
            )
        )
    return click.Command(
        op.command,
        callback=callback,
        params=params,
        help=f"{op.summary}\n\n{op.method} {op.path}",
        short_help=op.summary,
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", help="The DLM server (default: $DLM_URL, else the one `dlm login` stored).")
@click.option("--token", help="An API token (default: $DLM_TOKEN, else the one `dlm login` stored).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as it is, for scripts.")
@click.version_option(__version__, prog_name="dlm")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, as_json: bool) -> None:
    """DLM's command line: a client of a DLM server's REST API.

    Exit codes: 0 ok, 1 the server refused (its message on stderr), 2 usage, 3 the server cannot
    be reached."""
    ctx.obj = State(url, token, as_json)


def _build() -> None:
    groups: dict[str, Group] = {}
    for name, text in GROUPS.items():
        groups[name] = Group(name, help=text, context_settings={"help_option_names": ["-h", "--help"]})
        cli.add_command(groups[name])
    for op in OPERATIONS:
        group = groups[op.group]
        group.add_command(operation_command(op))
        if op.operation in ALIASES:
            group.aliases[ALIASES[op.operation]] = op.command


_build()

# The commands of DLM's own, beside the operations'.
from dlm_cli import commands  # noqa: E402,F401  (registers login, status, watch, register-dir)


def main(argv: list[str] | None = None) -> None:
    """The console script: run ``dlm`` and exit with its code."""
    try:
        code = cli.main(args=argv, prog_name="dlm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code  # usage errors: 2
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = USAGE
    except KeyboardInterrupt:
        code = 130
    sys.exit(code if isinstance(code, int) else OK)
