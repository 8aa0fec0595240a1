"""The commands of DLM's own beside the operations': ``login``, ``status``, ``watch`` and
``ingest register-dir``."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import requests
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dlm_cli.app import OK, UNREACHABLE, State, cli, run
from dlm_cli.client import Client, Refused, Unreachable
from dlm_cli.config import write_config
from dlm_cli.registering import register_tree


def _state() -> State:
    return click.get_current_context().find_object(State)


# --- login ---------------------------------------------------------------------------------------


def _password_login(url: str, username: str, password: str) -> str:
    """A new API token from ``/token_by_auth_flow``, after logging in with DLM's login form."""
    session = requests.Session()
    try:
        page = session.get(f"{url}/login", timeout=30)
        csrf = session.cookies.get("csrftoken", "")
        form = {"username": username, "password": password, "next": "/token_by_auth_flow"}
        form["csrfmiddlewaretoken"] = csrf
        answer = session.post(
            f"{url}/login", data=form, headers={"Referer": page.url}, timeout=30, allow_redirects=False
        )
        if answer.status_code not in (302, 303):
            raise Refused(answer.status_code, None, "the server refused this username and password")
        token = session.get(
            f"{url}/token_by_auth_flow", headers={"Accept": "application/json"}, timeout=30, allow_redirects=False
        )
    except requests.RequestException:
        raise Unreachable(f"cannot reach DLM at {url}") from None
    if token.status_code != 200:
        raise Refused(token.status_code, None, "no token from /token_by_auth_flow after logging in")
    return token.json()


@cli.command()
@click.option("--username", help="Log in with this DLM account (its password is asked for).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--token-stdin", is_flag=True, help="Read an API token from standard input instead.")
def login(username: str | None, password_stdin: bool, token_stdin: bool) -> None:
    """Store the server and an API token for the next commands (a file only you can read).

    Without options: open URL/token_by_auth_flow in a browser, log in, and paste the token shown.
    With --username: log in here and take a new token from /token_by_auth_flow."""
    state = _state()
    url = state.settings.url
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif username:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt("Password", hide_input=True)
        token = run(state, lambda: _password_login(url, username, password))
    else:
        click.echo(f"Open {url}/token_by_auth_flow in a browser, log in, and paste the token it shows.", err=True)
        token = click.prompt("API token", hide_input=True, err=True).strip()
    if not token:
        raise click.UsageError("No token given.")
    state.extra_secrets.append(token)
    rows = run(state, lambda: Client(url, token).get("/tokens/list_tokens"))
    path = write_config(url=url, token=token)
    user = rows[0]["user"] if rows else "?"
    state.printer.answer({"url": url, "user": user, "config": str(path)})


# --- status --------------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^(dlm_[a-z_]+)\{state="([a-z_]+)"\}\s+([0-9.eE+-]+)$')


def _queue(metrics: str) -> dict[str, dict[str, int]]:
    """The task queue and the jobs by state, from the Prometheus text of ``/metrics``."""
    wanted = {"dlm_queue_tasks": "tasks", "dlm_copy_jobs": "copy_jobs", "dlm_deletion_jobs": "deletion_jobs"}
    queue: dict[str, dict[str, int]] = {name: {} for name in wanted.values()}
    for line in metrics.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and match.group(1) in wanted:
            queue[wanted[match.group(1)]][match.group(2)] = int(float(match.group(3)))
    return queue


@cli.command()
def status() -> None:
    """The server's health, its job queue and its storages."""
    state = _state()
    client = state.client
    answer: dict[str, Any] = {"url": client.url, "heartbeat": run(state, lambda: client.get("/heartbeat"))}
    try:
        answer["queue"] = _queue(client.text("/metrics"))
    except Refused as exc:  # a server that keeps its metrics to trusted networks: the rest still tells
        answer["queue"] = None
        state.printer.note(f"queue: not shown (HTTP {exc.status}: {exc.message})")
    except Unreachable as exc:
        state.printer.error(str(exc))
        raise click.exceptions.Exit(UNREACHABLE) from None
    answer["storages"] = run(state, lambda: client.get("/storage/query_storage"))
    if state.as_json:
        state.printer.answer(answer)
        return
    printer = state.printer
    printer.out.print(f"DLM at {client.url}: up ({answer['heartbeat']})", markup=False)
    for name, counts in (answer["queue"] or {}).items():
        text = ", ".join(f"{count} {what}" for what, count in counts.items() if count) or "none"
        printer.out.print(f"{name.replace('_', ' ')}: {text}", markup=False)
    printer.answer(answer["storages"] or [])


# --- register-dir --------------------------------------------------------------------------------


@cli.commands["ingest"].command("register-dir")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--storage-name", required=True, help="The storage that holds the directory.")
@click.option(
    "--uri-prefix", default="", help="Where the directory sits under the storage's root (default: it is the root)."
)
@click.option("--access-check/--no-access-check", default=True, help="Have DLM check each file through rclone.")
def register_dir(directory: Path, storage_name: str, uri_prefix: str, access_check: bool) -> None:
    """Register every file under DIRECTORY on a storage, with the bulk API; what the storage
    already has is skipped, so a second run registers only what is new."""
    state = _state()
    columns = (TextColumn("registering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=state.printer.err, transient=False) as progress:
        task = progress.add_task("register", total=None)
        result = run(
            state,
            lambda: register_tree(
                state.client,
                directory.resolve(),
                storage_name=storage_name,
                uri_prefix=uri_prefix,
                access_check=access_check,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            ),
        )
    if state.as_json:
        state.printer.answer(result)
        return
    state.printer.answer(result["registered"] or [])
    state.printer.note(f"{len(result['registered'])} registered, {result['already_registered']} already registered")


# --- watch ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--storage-name", required=True, help="The storage that holds the directory.")
@click.option("--copy-to", help="Start a copy of each registered item to this storage.")
@click.option(
    "--settle",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds without change before an entry is registered.",
)
@click.option(
    "--uri-prefix", default="", help="Where the directory sits under the storage's root (default: it is the root)."
)
@click.option(
    "--poll/--no-poll", default=None, help="Poll for changes instead of inotify (default: poll on network filesystems)."
)
@click.option("--access-check/--no-access-check", default=True, help="Have DLM check each item through rclone.")
def watch(
    directory: Path,
    storage_name: str,
    copy_to: str | None,
    settle: float,
    uri_prefix: str,
    poll: bool | None,
    access_check: bool,
) -> None:
    """Register every new file or directory in DIRECTORY once it has stopped changing (and what
    arrived while this was not running); stop with Ctrl-C or SIGTERM."""
    from dlm_cli.watcher import Watcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    state = _state()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    watcher = Watcher(
        state.client,
        directory.resolve(),
        storage_name,
        settle=settle,
        copy_to=copy_to,
        uri_prefix=uri_prefix,
        access_check=access_check,
    )
    try:
        watcher.run(poll=poll, stop=stop)
    except Refused as exc:
        state.printer.error(f"HTTP {exc.status}: {exc.message}")
        raise click.exceptions.Exit(1) from None
    logging.getLogger("dlm.watch").info("stopped; %d registered", watcher.registered)
    raise click.exceptions.Exit(OK)
