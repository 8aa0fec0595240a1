"""pytest plugin: points ska-data-lifecycle's REST integration tests (--env docker) at DLM.

It sets the environment only: the REST clients' base URLs, the shared /dlm volume, the catalogue
clean-up between tests, and (unless switched off) upstream's in-process data_item setters as the
REST operations of the same name. The tests and their assertions are run as they are.
"""

import inspect
import json
import os
import re
import subprocess
from enum import Enum
from pathlib import Path

import pytest
import requests

CFG = json.loads(Path(os.environ["DLM_HARNESS_CONFIG"]).read_text())
URL = CFG["url"]
FSROOT = CFG["fsroot"].rstrip("/")

EXCLUDED = {
    "test_delete_item_payload": (
        "needs upstream's in-process storage library: delete_data_item_payload (not a REST "
        "operation: upstream's own comment says 'not a client endpoint') deletes through "
        "upstream's rclone rc server and writes upstream's PostgREST database directly"
    ),
    "test_expired_by_storage_daemon": (
        "needs upstream's in-process storage library: delete_uids is the storage manager "
        "daemon's own code (not a REST operation), run in the test process against upstream's "
        "PostgREST database and rclone rc server"
    ),
}

SETTERS = (
    "update_data_item",
    "set_uri",
    "set_metadata",
    "set_state",
    "set_oid_expiration",
    "set_uid_expiration",
    "set_user",
    "set_group",
    "set_acl",
    "set_phase",
    "update_item_tags",
)
BODY = {"update_data_item": "post_data", "set_metadata": "metadata_post", "update_item_tags": "item_tags"}

EXCHANGES = []
RESULTS = {}


class PostgRESTNotAvailable(RuntimeError):
    """Upstream's PostgREST database is not part of a DLM deployment."""


def _redact(text):
    text = re.sub(r"(password=)[^&\s]*", r"\1***", text)
    return re.sub(r'("access_token"\s*:\s*")[^"]*', r"\1***", text)


def _record_http():
    original = requests.sessions.Session.send

    def send(self, request, **kwargs):
        response = original(self, request, **kwargs)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        EXCHANGES.append(
            {
                "request": _redact(f"{request.method} {request.url}"),
                "body": (body or "")[:400],
                "status": response.status_code,
                "answer": _redact(response.text[:800]),
            }
        )
        return response

    requests.sessions.Session.send = send


def _point_env_at_dlm():
    import tests.common_docker as common_docker
    import tests.integration.client.data_item_client as data_item_client
    import tests.integration.client.dlm_ingest_client as ingest_client
    import tests.integration.client.dlm_migration_client as migration_client
    import tests.integration.client.dlm_request_client as request_client
    import tests.integration.client.dlm_storage_client as storage_client

    cls = common_docker.DlmTestClientDocker
    original_init = cls.__init__

    def __init__(self):
        original_init(self)  # sets http://dlm_gateway:8000
        storage_client.STORAGE_URL = URL
        ingest_client.INGEST_URL = URL
        request_client.REQUEST_URL = URL
        data_item_client.REQUEST_URL = URL
        migration_client.MIGRATION_URL = URL

    cls.__init__ = __init__
    cls.get_gateway_url = lambda self: URL

    # The shared volume, /dlm in upstream's containers, is FSROOT/dlm in this process: the
    # environment's file methods reach it there.
    def mapped(path):
        text = str(path)
        if text.startswith(FSROOT + "/"):
            return text  # already mapped (clear_rclone_data recurses with its own paths)
        return FSROOT + "/" + text.lstrip("/")

    for name in (
        "write_rclone_file_content",
        "get_rclone_local_file_content",
        "clear_rclone_data",
        "create_rclone_directory",
    ):
        method = getattr(cls, name)

        def wrapper(self, path, *args, _method=method, **kwargs):
            return _method(self, mapped(path), *args, **kwargs)

        setattr(cls, name, wrapper)


class Janitor:
    """DLM-side clean-up of catalogue tables (the tests' _clear_database and finalizers)."""

    def __init__(self):
        self.proc = None

    def call(self, table, params):
        if self.proc is None:
            self.proc = subprocess.Popen(
                CFG["janitor_cmd"],
                cwd=CFG["dlm_root"],
                env=CFG["janitor_env"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            ready = self.proc.stdout.readline()
            if not ready:
                raise RuntimeError("the catalogue clean-up process did not start")
        self.proc.stdin.write(json.dumps({"table": table, "params": params}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(f"catalogue clean-up of {table} {params}: {answer['error']}")

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


JANITOR = Janitor()


def _patch_db():
    from ska_dlm.dlm_db.db_access import DB

    def delete(table, *, params=None):
        JANITOR.call(table, params)

    def query(table, method, params=None, json=None, **kwargs):
        raise PostgRESTNotAvailable(
            f"{method} {table} {params or ''}: upstream's in-process library talks to its "
            "PostgREST database, which a DLM deployment does not have"
        )

    DB.delete = delete
    DB._query = query


def _library_as_rest():
    import ska_dlm.data_item as library
    import tests.integration.client.data_item_client as data_item_client
    from tests.integration.client.exception_handler import dlm_raise_for_status

    for name in SETTERS:
        signature = inspect.signature(getattr(library.data_item_requests, name))

        def setter(*args, _name=name, _signature=signature, **kwargs):
            arguments = dict(_signature.bind(*args, **kwargs).arguments)
            body = arguments.pop(BODY[_name], None) if _name in BODY else None
            params = {k: (v.value if isinstance(v, Enum) else v) for k, v in arguments.items() if v}
            response = requests.patch(
                f"{URL}/request/{_name}",
                params=params,
                json=body,
                timeout=60,
                headers={"Authorization": f"Bearer {data_item_client.TOKEN}"},
            )
            dlm_raise_for_status(response)
            return response.json()

        setter.__name__ = name
        setattr(library, name, setter)


def pytest_addoption(parser):
    parser.addoption("--run-excluded", action="store_true", help="run the tests DLM cannot serve too")


def pytest_configure(config):
    _record_http()
    _point_env_at_dlm()
    _patch_db()
    if CFG["library_shim"]:
        _library_as_rest()


def pytest_unconfigure(config):
    JANITOR.close()
    Path(CFG["results"]).write_text(json.dumps(RESULTS, indent=1))


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-excluded"):
        return
    for item in items:
        if item.name in EXCLUDED:
            item.add_marker(pytest.mark.skip(reason="EXCLUDED: " + EXCLUDED[item.name]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    EXCHANGES.clear()
    yield


def pytest_runtest_logreport(report):
    name = report.nodeid.split("::")[-1]
    entry = RESULTS.setdefault(name, {"outcome": "passed", "phases": {}})
    if report.passed and report.when != "call":
        return
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        entry.update(
            outcome="excluded" if reason.startswith("EXCLUDED: ") else "skipped",
            reason=reason.removeprefix("EXCLUDED: "),
        )
    elif report.failed:
        if entry["outcome"] != "failed":
            entry["outcome"] = "failed" if report.when == "call" else "error"
        crash = getattr(report.longrepr, "reprcrash", None)
        # The deepest line of the test file in the traceback, then where the exception arose.
        lines = re.findall(r"test_ska_data_lifecycle\.py:(\d+)", report.longreprtext)
        where = f"line {lines[-1]}" if lines else ""
        if crash and not crash.path.endswith("test_ska_data_lifecycle.py"):
            where += f" ({crash.path.split('/')[-1]}:{crash.lineno})"
        entry["phases"][report.when] = {
            "message": crash.message if crash else str(report.longrepr)[-2000:],
            "where": where.strip(),
            "exchanges": EXCHANGES[-6:],
        }
