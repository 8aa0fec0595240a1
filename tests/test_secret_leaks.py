"""No secret leaks, anywhere.

Storages are seeded with rclone remotes whose secret options carry distinctive values (an S3
secret key and session token, sftp passwords, a PEM key, webdav's password and bearer token, an
Azure SAS URL pasted with its quotes): some reach the real S3 and SFTP servers on loopback, some
hold wrong keys, some point at closed ports. Then every operation of the OpenAPI document, every
page of the web UI, every admin page (list, add, change, history, delete) and the error paths
(wrong keys, unreachable remotes, failed copies run by the job runner and by django-q2's worker)
are exercised, with logging at DEBUG (SQL included).

Every response's body, headers, cookies and flash messages, every log record, every row of
every table (django-q2's pickled task arguments and results decoded, sessions decoded), the cache,
the process's output, the start-up bootstrap's messages and rclone rcd's command line are searched
for each secret: as typed, escaped (JSON, Go, HTML, URL), by its random part alone, base64-encoded
at any byte offset, and obscured by rclone (any obscured text found is revealed and compared). A
secret found is reported with where it was found. The API tokens, DLM's secret key and field
encryption keys and the rclone daemon's password are looked for too.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import json
import logging
import pickle
import re
import secrets
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings as django_settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Task
from django_q.tasks import _sync, async_task

from accounts.models import ProviderIdentity
from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from catalogue.models import DataItem, Location, Storage, StorageConfig
from catalogue.services.storages import storage_config_create
from core import rclone
from migrations_app import runner
from migrations_app.jobs import COPY_TASK
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.conftest import Api
from tests.factories import make_item, make_location, make_storage
from tests.storage_servers import _free_port, _serve
from ui.urls import urlpatterns as ui_urlpatterns

pytestmark = pytest.mark.django_db

log = logging.getLogger("tests.leaks")


# --- the secrets --------------------------------------------------------------------------------


def canary(kind: str) -> str:
    """A secret no output may hold: a fixed prefix, its kind, and a random part (with ``/`` and ``+``,
    as real S3 keys have, so that URL and base64 encodings differ from the text)."""
    return f"LEAKCANARY+{kind}/{secrets.token_hex(12)}"


def random_part(secret: str) -> str:
    """The first 16 digits of a secret's longest run of hex digits (64 random bits): unchanged by
    any escaping or quoting, and still there when the secret is cut short."""
    return max(re.findall(r"[0-9a-f]{16,}", secret), key=len, default="")[:16]


# rclone's fixed key for obscuring password options (``rclone obscure``): AES-CTR, the first 16
# bytes of the decoded text being the IV. Public in rclone's source (fs/config/obscure).
_OBSCURE_KEY = bytes.fromhex("9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638")
_BASE64URL_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")


def reveal(obscured: str) -> str | None:
    """What ``rclone reveal`` prints for ``obscured``; None when it is not base64url."""
    try:
        raw = base64.urlsafe_b64decode(obscured + "=" * (-len(obscured) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= 16:
        return None
    decryptor = Cipher(algorithms.AES(_OBSCURE_KEY), modes.CTR(raw[:16])).decryptor()
    return (decryptor.update(raw[16:]) + decryptor.finalize()).decode("latin-1")


def base64_forms(value: str) -> list[str]:
    """The part of the base64 encoding of ``value`` that does not depend on what surrounds it,
    at each of the three byte offsets it may start at (as in ``Basic user:secret``)."""
    data = value.encode()
    forms = []
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * offset + data).decode()[skip:-4]
        forms += [encoded, encoded.replace("+", "-").replace("/", "_")]
    return forms


@dataclass(frozen=True)
class Finding:
    secret: str  # the secret's name
    form: str  # how it was written: "as typed", "base64", "obscured by rclone"…
    place: str  # where: a request and part of its response, a table, a log record…
    excerpt: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.place}: …{self.excerpt}…"


class Detector:
    """Searches text for secrets, in every form they may take, and remembers where each was found."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self._needles: list[tuple[str, str, str]] = []  # (secret name, form, text)
        self.findings: list[Finding] = []
        self.places = 0

    def add(self, name: str, value: str) -> None:
        forms = {
            "as typed": value,
            "escaped (JSON, Go's %q)": json.dumps(value, ensure_ascii=False)[1:-1],
            "escaped twice": json.dumps(json.dumps(value, ensure_ascii=False)[1:-1], ensure_ascii=False)[1:-1],
            "HTML-escaped": html.escape(value),
            "URL-encoded": quote(value, safe=""),
            "form-encoded": quote_plus(value),
            "random part": random_part(value),
        }
        forms.update({f"base64 #{n}": text for n, text in enumerate(base64_forms(value))})
        seen: set[str] = set()
        self.secrets[name] = value
        for form, text in forms.items():
            if len(text) >= 16 and text not in seen:
                seen.add(text)
                self._needles.append((name, form, text))

    def add_form(self, name: str, form: str, text: str) -> None:
        """Another written form of a secret (e.g. one obscured value of it)."""
        self._needles.append((name, form, text))

    def scan(self, place: str, text: str) -> None:
        self.places += 1
        for name, form, needle in self._needles:
            at = text.find(needle)
            if at >= 0:
                self._found(name, form, place, text, at, len(needle))
        for match in _BASE64URL_RUN.finditer(text):
            revealed = reveal(match.group())
            if revealed is None:
                continue
            for name, value in self.secrets.items():
                if value in revealed:
                    self._found(name, "obscured by rclone", place, text, match.start(), len(match.group()))

    def _found(self, name: str, form: str, place: str, text: str, at: int, length: int) -> None:
        excerpt = text[max(at - 80, 0) : at + length + 40].replace("\n", "⏎")
        self.findings.append(Finding(name, form, place, excerpt))

    # What is searched.

    def response(self, label: str, response: HttpResponse) -> None:
        place = f"{label} → {response.status_code}"
        self.scan(f"{place} headers", "\n".join(f"{name}: {value}" for name, value in response.items()))
        for name, morsel in response.cookies.items():
            self.scan(f"{place} cookie {name}", morsel.OutputString())
            if name == CookieStorage.cookie_name and morsel.value:
                shown = CookieStorage(HttpRequest())._decode(morsel.value) or []
                self.scan(f"{place} flash messages", "\n".join(str(message) for message in shown))
        if response.streaming:
            body = b"".join(response.streaming_content)
            response.streaming_content = [body]
        else:
            body = response.content
        self.scan(f"{place} body", body.decode("utf-8", errors="replace"))

    def log_records(self, records: Iterable[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        for record in records:
            text = f"{formatter.format(record)}\nargs={record.args!r}"
            self.scan(f"log record {record.name} {record.levelname} {record.getMessage()[:100]!r}", text)

    def database(self, label: str) -> None:
        """Every row of every table as stored, then what is stored encoded: sessions, and
        django-q2's signed queue payloads and pickled task arguments and results."""
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (a table name)
                rows = cursor.fetchall()
                self.scan(f"{label}: table {table}", "\n".join(repr(tuple(map(_as_text, row))) for row in rows))
        for session in Session.objects.all():
            self.scan(f"{label}: session {session.session_key[:8]}… (decoded)", repr(session.get_decoded()))
        for queued in OrmQ.objects.all():
            self.scan(f"{label}: django-q2 queue row {queued.pk} (decoded payload)", repr(queued.task))
        for task in Task.objects.all():
            values = (task.name, task.func, task.hook, task.args, task.kwargs, task.result, task.group)
            self.scan(f"{label}: django-q2 task {task.name} (decoded args, kwargs, result)", repr(values))

    def cache(self, label: str) -> None:
        for alias in django_settings.CACHES:
            store = getattr(caches[alias], "_cache", {})  # the local-memory cache's pickled values
            for key, value in list(store.items()):
                self.scan(f"{label}: cache {alias} {key}", f"{key} {pickle.loads(value)!r}")

    def rclone_daemon(self) -> str:
        """The command line of this process's ``rclone rcd`` and the files in its private
        directory (secrets travel to it in request bodies only); the command line."""
        command = Path(f"/proc/{rclone.DAEMON._process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        self.scan("rclone rcd's command line", command)
        for path in Path(rclone.DAEMON._dir).rglob("*"):
            if path.is_file():
                self.scan(f"rclone rcd's file {path.name}", path.read_bytes().decode("utf-8", errors="replace"))
        return command

    def of(self, name: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.secret == name]

    def leaks(self, *, besides: str) -> list[str]:
        """One line per secret and place it was found (all the forms it had there), by secret,
        leaving out the secret named ``besides``."""
        found: dict[tuple[str, str], list[Finding]] = {}
        for finding in self.findings:
            if finding.secret != besides:
                found.setdefault((finding.secret, finding.place), []).append(finding)
        return [
            f"{secret} ({', '.join(sorted({f.form for f in findings}))}) in {place}: …{findings[0].excerpt}…"
            for (secret, place), findings in sorted(found.items())
        ]


def _as_text(value: Any) -> Any:
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode("utf-8", errors="replace")
    return value


class CapturingClient(Client):
    """A test client that hands every response (redirects followed included) to the detector."""

    def __init__(self, detector: Detector, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.detector = detector
        self.count = 0

    def request(self, **request: Any) -> HttpResponse:
        response = super().request(**request)
        query = request.get("QUERY_STRING", "")
        label = f"{request['REQUEST_METHOD']} {request['PATH_INFO']}" + (f"?{query}" if query else "")
        self.detector.response(label, response)
        self.count += 1
        return response


# --- servers and remotes --------------------------------------------------------------------------


@dataclass
class Servers:
    """Where the canary servers listen, and their credentials."""

    s3_root: Path
    s3_endpoint: str
    s3_secret: str
    sftp_port: int
    sftp_password: str


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    """An S3 and an SFTP server on loopback whose credentials are canaries."""
    s3_root, sftp_root = tmp_path_factory.mktemp("leak-s3"), tmp_path_factory.mktemp("leak-sftp")
    (s3_root / "bucket1").mkdir()
    s3_secret, sftp_password = canary("s3-key"), canary("sftp-pass")
    s3_port, sftp_port = _free_port(), _free_port()
    processes = [
        _serve(["s3", str(s3_root), "--auth-key", f"AKLEAK,{s3_secret}"], s3_port),
        _serve(["sftp", str(sftp_root), "--user", "dlm", "--pass", sftp_password], sftp_port),
    ]
    yield Servers(s3_root, f"http://127.0.0.1:{s3_port}", s3_secret, sftp_port, sftp_password)
    for process in processes:
        process.terminate()
        process.wait(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remotes(servers: Servers) -> dict[str, dict[str, Any]]:
    """The storages' rclone remotes by storage name: two that work, and the failing kinds."""

    def s3(endpoint: str, secret: str, **more: str) -> dict[str, Any]:
        parameters = {
            "provider": "Rclone",
            "endpoint": endpoint,
            "access_key_id": "AKLEAK",
            "secret_access_key": secret,
        }
        return {"name": "s3", "type": "s3", "parameters": {**parameters, **more}}

    def sftp(**more: str) -> dict[str, Any]:
        parameters = {"host": "127.0.0.1", "port": str(servers.sftp_port), "user": "dlm", "shell_type": "none"}
        return {"name": "sftp", "type": "sftp", "parameters": {**parameters, "known_hosts_file": "", **more}}

    closed = f"http://127.0.0.1:{_closed_port()}"
    return {
        "leak-s3-good": s3(servers.s3_endpoint, servers.s3_secret, session_token=canary("s3-session-token")),
        "leak-sftp-good": sftp(**{"pass": servers.sftp_password}),
        "leak-s3-wrong-key": s3(servers.s3_endpoint, canary("s3-wrong-key")),
        "leak-s3-closed": s3(closed, canary("s3-closed-key")),
        "leak-sftp-wrong-pass": sftp(**{"pass": canary("sftp-wrong-pass")}),
        "leak-sftp-bad-key": sftp(key_pem=canary("sftp-key-pem")),
        "leak-webdav-closed": {
            "name": "webdav",
            "type": "webdav",
            "parameters": {
                "url": f"http://127.0.0.1:{_closed_port()}/dav",
                "vendor": "other",
                "user": "dlm",
                "pass": canary("webdav-pass"),
                "bearer_token": canary("webdav-bearer-token"),
            },
        },
        # A SAS URL pasted with its quotes: rclone cannot parse it, and says so, quoting it.
        "leak-azure-sas": {
            "name": "azure",
            "type": "azureblob",
            "parameters": {"sas_url": f'"https://leak.blob.core.windows.net/c?sv=2022-11-02&sig={canary("sas")}"'},
        },
    }


# Storages whose remote takes seconds to fail (the S3 client backs off before its retry): tried by
# the access check, by storing a config and by a copy, not by every operation, to keep the test quick.
SLOW = {"leak-s3-closed"}
GOOD = ("leak-s3-good", "leak-sftp-good")


# --- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    """What the test seeded: its storages, items, jobs and callers."""

    api: Api
    browser: CapturingClient
    location: Location
    storages: dict[str, Storage]
    definitions: dict[str, dict[str, Any]]
    small: DataItem
    large: DataItem
    scratch: DataItem
    victim_token_id: str
    victim_token: str
    jobs: dict[str, Migration] = field(default_factory=dict)

    def storage(self, name: str) -> Storage:
        return self.storages[name]


def _canaries(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """``(option path, value)`` of each canary in a remote definition (found by the canaries'
    prefix, not by DLM's idea of which options are secret)."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _canaries(value, f"{path}{key}.")
        elif isinstance(value, str) and "LEAKCANARY" in value:
            yield f"{path}{key}", value


def _json_file(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def seed(detector: Detector, servers: Servers, new_client: Callable[[], CapturingClient], tmp_path: Path) -> World:
    """The storages with their remotes, two registered items, a throwaway item, an admin (API
    token and browser session) and another account's token; every secret given to ``detector``."""
    definitions = remotes(servers)
    for storage_name, definition in definitions.items():
        for option, value in _canaries(definition):
            detector.add(f"{storage_name} {option}", value)
            if option.endswith("pass"):  # rclone's password options travel obscured
                detector.add_form(f"{storage_name} {option}", "obscured by core.rclone", rclone.obscure(value))

    admin_account = account_ensure(username="leak-admin", role=Role.ADMIN)
    _, admin_token = api_token_create(user=admin_account, name="leak walker")
    victim = account_ensure(username="leak-victim", role=Role.OPERATOR)
    victim_row, victim_token = api_token_create(user=victim, name="victim token")
    detector.add("the admin's API token", admin_token)
    detector.add("another account's API token", victim_token)
    detector.add("DLM_SECRET_KEY", django_settings.SECRET_KEY)
    for number, key in enumerate(django_settings.FIELD_ENCRYPTION_KEYS):
        detector.add(f"DLM_FIELD_ENCRYPTION_KEYS #{number}", key.decode() if isinstance(key, bytes) else key)
    rclone.DAEMON.ensure()
    detector.add("rclone rcd's password", base64.b64decode(rclone.DAEMON._auth.split()[1]).decode().split(":")[1])

    ProviderIdentity.objects.create(user=admin_account, issuer="https://idp.example.org", subject="leak-sub")
    api = Api(new_client(), admin_token)
    browser = new_client()
    browser.force_login(admin_account)

    location = make_location(location_name="leak-location")
    storages = {}
    for storage_name, definition in definitions.items():
        kind = definition["type"]
        storages[storage_name] = make_storage(
            location,
            storage_name=storage_name,
            storage_type="objectstore" if kind in ("s3", "azureblob") else "filesystem",
            storage_interface="s3" if kind == "s3" else "posix",
            root_directory="bucket1" if kind == "s3" else "leak",
        )
    for storage_name in GOOD:  # stored through the API: rclone reaches them
        response = api.post("/storage/create_storage_config", {"storage_name": storage_name}, definitions[storage_name])
        assert response.status_code == 200, response.content
    # The others as the start-up bootstrap stores them (unchecked, then tried, a warning logged),
    # the slow one by the service the bootstrap calls.
    entries = [
        {"name": name, "location": location.location_name, "config": definition}
        for name, definition in definitions.items()
        if name not in GOOD + tuple(SLOW)
    ]
    call_command("dlm_bootstrap", storages=_json_file(tmp_path / "storages.json", entries), stdout=io.StringIO())
    for name in SLOW:
        storage_config_create(config=definitions[name], storage_id=storages[name].pk, check_remote=False)
    # A STORAGE_CONFIG file whose remote is JSON text, not an object (encoded twice): refused.
    twice = [{**entries[0], "name": "leak-bootstrap-refused", "config": json.dumps(definitions["leak-s3-wrong-key"])}]
    with pytest.raises(CommandError) as refused:
        call_command("dlm_bootstrap", storages=_json_file(tmp_path / "refused.json", twice))
    detector.scan("dlm_bootstrap's error (printed at start-up)", str(refused.value))

    folder = servers.s3_root / "bucket1" / "leak"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "small.bin").write_bytes(b"small and secretless\n" * 50)
    (folder / "large.bin").write_bytes(secrets.token_bytes(300 * 1024))  # copied as an rclone job
    uids = {}
    for name in ("small", "large"):
        query = {"item_name": f"leak/{name}.bin", "uri": f"leak/{name}.bin", "storage_name": "leak-s3-good"}
        response = api.post("/ingest/register_data_item", query, {"observer": "leak test"})
        assert response.status_code == 200, response.content
        uids[name] = response.json()
    scratch = make_item(storages["leak-s3-good"], item_name="leak/scratch.bin", uri="leak/scratch.bin")
    return World(
        api=api,
        browser=browser,
        location=location,
        storages=storages,
        definitions=definitions,
        small=DataItem.objects.get(uid=uids["small"]),
        large=DataItem.objects.get(uid=uids["large"]),
        scratch=scratch,
        victim_token_id=victim_row.token_key,
        victim_token=victim_token,
    )


# --- copies: failed and completed, through the runner and through django-q2's worker -----------------


def copy_jobs(world: World, settings, monkeypatch, capture_on_commit) -> None:
    settings.DLM_COPY_MAX_ATTEMPTS, settings.DLM_COPY_RETRY_DELAY = 1, 0
    # A READY copy on the storage with wrong keys: a copy from it fails reading the source.
    on_wrong_keys = make_item(
        world.storage("leak-s3-wrong-key"), item_name="leak/on-wrong-keys.bin", uri="leak/small.bin", item_state="READY"
    )
    wanted = [(world.small, name) for name in world.storages if name != "leak-s3-good"]
    wanted += [(world.large, "leak-sftp-good"), (world.large, "leak-s3-wrong-key"), (on_wrong_keys, "leak-sftp-good")]
    with capture_on_commit(execute=True):  # the tasks go to django-q2's queue table
        for source, destination in wanted:
            query = {"uid": str(source.uid), "destination_name": destination}
            response = world.api.post("/migration/copy_data_item", query)
            assert response.status_code == 200, response.content
            label = f"{source.item_name} from {source.storage.storage_name} to {destination}"
            world.jobs[label] = Migration.objects.get(pk=response.json()["migration_id"])
    queued = {queued.task["args"][0]: queued for queued in OrmQ.objects.all() if queued.task["func"] == COPY_TASK}
    assert set(queued) == {job.pk for job in world.jobs.values()}

    # One task as django-q2's worker runs it (in this process), the others by the runner itself.
    through_worker = world.jobs["leak/small.bin from leak-s3-good to leak-webdav-closed"]
    with monkeypatch.context() as patch:
        patch.setattr(Conf, "SYNC", True)  # the worker keeps this test's database connection
        _sync(queued[through_worker.pk].payload)
        # A second delivery of a finished job (delivery is at-least-once): a stored task result.
        async_task(COPY_TASK, through_worker.pk, sync=True, task_name="leak-redelivery")
    for job in world.jobs.values():
        if job.pk != through_worker.pk:
            runner.copy_job_run(job.pk)
        job.refresh_from_db()

    for label, job in world.jobs.items():
        works = job.source_storage.storage_name in GOOD and job.destination_storage.storage_name in GOOD
        assert job.state == (JobState.COMPLETED if works else JobState.FAILED), (label, job.state, job.last_error)
        assert (job.state == JobState.FAILED) == bool(job.last_error), (label, job.last_error)
    wrong_keys = world.jobs["leak/large.bin from leak-s3-good to leak-s3-wrong-key"]
    assert wrong_keys.job_id > 0  # copied as an rclone job: its status and statistics were recorded
    assert "SignatureDoesNotMatch" in wrong_keys.last_error or "403" in wrong_keys.last_error, wrong_keys.last_error
    assert Task.objects.filter(name="leak-redelivery", success=True).exists()
    # (django-q2 re-raises a task's exception in this synchronous mode instead of storing it: a
    # failure row, so that the admin's pages of failures are walked too.)
    now = timezone.now()
    Failure.objects.create(
        id=uuid.uuid4().hex, name="leak-failure", func=COPY_TASK, started=now, stopped=now, success=False, result="x"
    )

    # A failed attempt with attempts left: re-queued by a django-q2 schedule.
    settings.DLM_COPY_MAX_ATTEMPTS, settings.DLM_COPY_RETRY_DELAY = 2, 3600
    with capture_on_commit(execute=True):
        response = world.api.post("/migration/retry_migration", {"migration_id": through_worker.pk})
        assert response.status_code == 200, response.content
        runner.copy_job_run(through_worker.pk)
    through_worker.refresh_from_db()
    assert through_worker.state == JobState.QUEUED and through_worker.next_attempt_at is not None
    settings.DLM_COPY_MAX_ATTEMPTS, settings.DLM_COPY_RETRY_DELAY = 1, 0


# --- every operation of the OpenAPI document -------------------------------------------------------

# Operations that reach a storage's remote, and so are tried on each storage.
PER_STORAGE = {
    "check_storage_access",
    "get_storage_config",
    "query_storage",
    "create_storage_config",
    "register_data_item",
    "register_data_items",
    "copy_data_item",
}
# Of those, the ones tried on the slow unreachable S3 remote too.
ON_SLOW = {"check_storage_access", "create_storage_config", "get_storage_config", "query_storage"}
NEW_NAMES = {"init_location": "location_name", "init_storage": "storage_name"}  # these create: a fresh name


def _value(world: World, parameter: dict[str, Any], method: str, storage: Storage) -> Any:
    """A plausible value for an operation's query parameter (None: leave an optional one out)."""
    name, schema = parameter["name"], parameter.get("schema", {})
    item = world.scratch if method == "PATCH" else world.small  # the setters change a throwaway item
    known = {
        "item_name": item.item_name,
        "uid": item.uid,
        "oid": item.oid,
        "storage_name": storage.storage_name,
        "storage_id": storage.pk,
        "destination_name": storage.storage_name,
        "destination_id": storage.pk,
        "location_name": world.location.location_name,
        "location_id": world.location.pk,
        "migration_id": world.jobs["leak/small.bin from leak-s3-good to leak-s3-wrong-key"].pk,
        "token_id": world.victim_token_id,
        "token": world.victim_token,  # /scope judges a token: it must not say it back
        "permission": "res:storage#scope:read",
        "user": "leak-admin",
        "uri": "leak/small.bin",
        "root_directory": "leak",
        "expiration": "2099-12-31T00:00:00",
        "check_date": "2000-01-01",
        "object_type": "storage_config",
        "config_type": "rclone",
        "name": "leak walk",
        "days": 1,
        "group": "leak",
        "acl": json.dumps({"read": ["leak"]}),
    }
    if name in known and (not schema.get("enum") or known[name] in schema["enum"]):
        return known[name]
    if not parameter.get("required"):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    return {"integer": 1, "boolean": "false"}.get(schema.get("type", ""), "leak")


def _body(world: World, operation_id: str, storage: Storage) -> Any:
    name = f"leak/walk-{storage.storage_name}"
    return {
        "create_storage_config": world.definitions.get(storage.storage_name),
        "register_data_item": {"observer": "leak walk"},
        "register_data_items": [{"item_name": f"{name}-many", "uri": "leak/small.bin"}],
        "init_data_item": {"item_name": f"{name}-init"},
        "update_data_item": {"item_group": "leak"},
        "set_metadata": {"walk": "leak"},
        "update_item_tags": {"walk": "leak"},
    }.get(operation_id)


def walk_api(world: World) -> set[str]:
    """Every operation of the OpenAPI document: with nothing (the error path), then with plausible
    values (on each storage, for the operations that reach one). The operation ids walked."""
    document = world.api.get("/openapi.json").json()
    walked = set()
    answers: dict[tuple[str, str], HttpResponse] = {}
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            if "operationId" not in operation:
                continue
            method, operation_id = method.upper(), operation["operationId"]
            parameters = operation.get("parameters", [])
            world.api.call(method, path)
            storages = list(world.storages.values()) if operation_id in PER_STORAGE else [world.storage(GOOD[0])]
            for storage in storages:
                if storage.storage_name in SLOW and operation_id not in ON_SLOW:
                    continue
                values = {p["name"]: _value(world, p, method, storage) for p in parameters}
                query = {name: value for name, value in values.items() if value is not None}
                if operation_id in NEW_NAMES:
                    query[NEW_NAMES[operation_id]] = f"leak-walk-{operation_id}"
                if operation_id in ("register_data_item", "init_data_item"):
                    query["item_name"] = f"leak/walk-{storage.storage_name}"
                response = world.api.call(method, path, query, _body(world, operation_id, storage))
                answers[operation_id, storage.storage_name] = response
            walked.add(operation_id)
    for storage_name, definition in world.definitions.items():
        if storage_name not in SLOW:
            world.api.post("/storage/rclone_config", None, definition)

    # The error paths were taken, with rclone's reasons (masked) in the answers.
    for storage_name in world.storages:
        check = answers["check_storage_access", storage_name].json()
        assert check["reachable"] is (storage_name in GOOD), (storage_name, check)
        created = answers["create_storage_config", storage_name]
        assert created.status_code == (200 if storage_name in GOOD else 422), (storage_name, created.content)
    wrong_key = answers["create_storage_config", "leak-s3-wrong-key"].json()["message"]
    assert "SignatureDoesNotMatch" in wrong_key or "403" in wrong_key, wrong_key
    assert "failed to parse SAS URL" in answers["check_storage_access", "leak-azure-sas"].json()["error"]
    registered = answers["register_data_item", "leak-sftp-wrong-pass"].json()["message"]
    assert "unable to authenticate" in registered, registered
    return walked


# --- every page of the web UI ----------------------------------------------------------------------


def _config_form(definition: dict[str, Any]) -> dict[str, str]:
    form = {"name": definition["name"], "type": definition["type"], "root_path": "", "check_remote": "on"}
    for row, (key, value) in enumerate(definition["parameters"].items()):
        form[f"param_key_{row}"], form[f"param_value_{row}"] = key, value
    return form


def walk_ui(world: World) -> int:
    """Every URL pattern of the UI with every seeded id (GET), then its forms and actions (POST)."""
    browser, before = world.browser, world.browser.count
    ids = {
        "location_id": [world.location.pk],
        "storage_id": [storage.pk for storage in world.storages.values()],
        "uid": list(DataItem.objects.values_list("uid", flat=True)),
        "ref": list(Migration.objects.values_list("pk", flat=True)),
    }
    for pattern in ui_urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = "/" + str(pattern.pattern)
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        assert len(names) <= 1, route
        for value in ids[names[0]] if names else [None]:
            browser.get(re.sub(r"<[^>]+>", str(value), route))
    for url in ("/tokens", "/docs", "/login", "/token_by_auth_flow", "/oidc/authenticate/", "/no/such/page"):
        browser.get(url)

    for name, storage in world.storages.items():
        if name in SLOW:
            continue
        browser.post(f"/storages/{storage.pk}/check", follow=True)
        form = _config_form(world.definitions[name])
        response = browser.post(f"/storages/{storage.pk}/configs/new", form, follow=True)
        assert name in GOOD or response.status_code == 422, (name, response.status_code)
        register = {"item_name": f"leak/ui-{name}", "uri": "leak/small.bin", "storage_name": name, "item_type": "file"}
        browser.post("/items/register", register, follow=True)
        browser.post(f"/items/{world.small.uid}/copy", {"destination_name": name, "path": "leak/ui.bin"}, follow=True)
    for job in Migration.objects.filter(state=JobState.FAILED):
        browser.post(f"/jobs/{job.pk}/retry", follow=True)
        browser.post(f"/jobs/{job.pk}/cancel", follow=True)
    return browser.count - before


# --- every page of the admin -----------------------------------------------------------------------


class _Form(HTMLParser):
    """The fields a browser submits from a page's form (disabled ones left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if "disabled" in a or not name:
            self._select = None if tag == "select" else self._select
            return
        if tag == "input" and a.get("type") not in ("submit", "button", "checkbox"):
            self.fields[name] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.fields[name] = "on"
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value") or ""


def _form_of(page: str) -> dict[str, str]:
    parser = _Form()
    parser.feed(page)
    parser.fields.pop("csrfmiddlewaretoken", None)
    return parser.fields


def _secret_row(page: str, option: str) -> int:
    tag = next(tag for tag in re.findall(r"<input[^>]*>", page) if f'value="{option}"' in tag)
    return int(re.search(r'name="param_(\d+)_key"', tag).group(1))


def walk_admin(world: World, detector: Detector) -> int:
    """The index, then for every registered model its list and add pages and the change, history
    and delete pages of its objects; then the storage-config forms and the actions."""
    browser, before = world.browser, world.browser.count
    browser.get("/admin/")
    for model in admin.site._registry:
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        browser.get(reverse(f"{base}_changelist"))
        browser.get(reverse(f"{base}_add"))
        for obj in model._default_manager.all()[:60]:
            for view in ("change", "history", "delete"):
                browser.get(reverse(f"{base}_{view}", args=[admin_quote(obj.pk)]))

    good = StorageConfig.objects.filter(storage__storage_name="leak-s3-good").first()
    url = reverse("admin:catalogue_storageconfig_change", args=[good.pk])
    page = browser.get(url).content.decode()
    fields = _form_of(page)
    typed = canary("admin-typed-wrong-key")
    detector.add("a wrong key typed in the admin", typed)
    fields[f"param_{_secret_row(page, 'secret_access_key')}_value"] = typed
    refused = browser.post(url, fields)
    assert refused.status_code == 200 and "is not reachable" in refused.content.decode()
    fields = _form_of(page)
    replaced = canary("admin-replaced-session-token")  # rclone's S3 server ignores session tokens
    detector.add("a session token replaced in the admin", replaced)
    fields[f"param_{_secret_row(page, 'session_token')}_value"] = replaced
    assert browser.post(url, fields, follow=True).status_code == 200

    webdav = world.definitions["leak-webdav-closed"]
    add = {"storage": str(world.storage("leak-webdav-closed").pk), "config_type": "rclone", "root_path": ""}
    add.update(name=webdav["name"], type=webdav["type"])
    for row, (key, value) in enumerate(webdav["parameters"].items()):
        add[f"param_{row}_key"], add[f"param_{row}_value"] = key, value
    refused = browser.post(reverse("admin:catalogue_storageconfig_add"), add)
    assert refused.status_code == 200 and "is not reachable" in refused.content.decode()

    actions = [
        (Storage, "check_access", Storage.objects.exclude(storage_name__in=SLOW).values_list("pk", flat=True)),
        (
            StorageConfig,
            "check_remote",
            StorageConfig.objects.exclude(storage__storage_name__in=SLOW).values_list("pk", flat=True),
        ),
        (Migration, "retry", Migration.objects.values_list("pk", flat=True)),
        (Migration, "cancel", Migration.objects.values_list("pk", flat=True)),
    ]
    for model, action, pks in actions:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        browser.post(changelist, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)
    return browser.count - before


# --- the tests ----------------------------------------------------------------------------------


def test_the_detector_finds_a_secret_in_every_form_it_may_take():
    detector = Detector()
    secret = canary("planted")
    detector.add("planted", secret)
    detector.add("never written", canary("absent"))
    written = {
        "as typed": f"error: {secret}.",
        "in a JSON answer": json.dumps({"message": f"parse {secret}"}),
        "Go-quoted, in a JSON answer": json.dumps({"message": "parse " + json.dumps(f'"{secret}"')}),
        "in an HTML attribute": f'<input value="{html.escape(secret)}">',
        "URL-encoded": "https://example.org/?sig=" + quote(secret, safe=""),
        "form-encoded": urlencode({"sig": secret}),
        "cut short": f"reason: {secret[:-6]}",
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode(),
        "obscured by rclone": rclone.obscure(secret),
        "obscured, in a JSON answer": json.dumps({"fs": {"pass": rclone.obscure(secret)}}),
    }
    for user in ("", "u", "us"):  # the secret at each offset of a base64 group
        written[f"in Basic auth after {user!r}"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    for place, text in written.items():
        detector.scan(place, text)
    detector.scan("clean text", f"LEAKCANARY+planted/ {secret[:-30]} {rclone.obscure('another value')}")

    assert {finding.place for finding in detector.findings} == set(written)
    assert not detector.of("never written")
    obscured = next(finding for finding in detector.findings if finding.place == "obscured by rclone")
    assert str(obscured).startswith("planted (obscured by rclone) in obscured by rclone: …")


def test_every_sweep_finds_a_secret_planted_where_it_looks(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    detector = Detector()
    secret = canary("planted")
    detector.add("planted", secret)
    viewer = account_ensure(username="leak-viewer", role=Role.VIEWER)
    api = Api(CapturingClient(detector), api_token_create(user=viewer)[1])

    make_location(location_name="planted", location_city=secret)
    api.get("/storage/query_location", {"location_name": "planted"})
    response = HttpResponse(headers={"X-Reason": secret})
    response.set_cookie("reason", secret)
    flash = CookieStorage(HttpRequest())
    flash.add(messages.ERROR, f"not reachable: {secret}")
    flash.update(response)
    detector.response("a response made here", response)
    log.debug("planted %s", secret)
    async_task("math.floor", secret, task_name="planted-queued")
    now = timezone.now()
    Task.objects.create(
        id=uuid.uuid4().hex, name="planted-done", func="math.floor", args=(secret,), started=now, stopped=now
    )
    session = SessionStore()
    session["reason"] = secret
    session.create()
    caches["default"].set("planted", secret)
    print(f"reason: {secret}")
    _sweep(detector, caplog, capfd)

    found = [finding.place for finding in detector.of("planted")]
    for where in (
        "GET /storage/query_location?location_name=planted → 200 body",
        "a response made here → 200 headers",
        "a response made here → 200 cookie reason",
        "a response made here → 200 flash messages",
        "log record tests.leaks DEBUG",
        "the database at the end: table location",
        "the database at the end: django-q2 queue row",
        "the database at the end: django-q2 task planted-done",
        f"the database at the end: session {session.session_key[:8]}… (decoded)",
        "the cache at the end: cache default",
        "standard output",
    ):
        assert any(place.startswith(where) for place in found), (where, found)


def _sweep(detector: Detector, caplog, capfd) -> None:
    detector.database("the database at the end")
    detector.cache("the cache at the end")
    detector.log_records(caplog.records)
    out, err = capfd.readouterr()
    detector.scan("standard output", out)
    detector.scan("standard error", err)


def test_no_seeded_secret_leaks_anywhere(
    servers, settings, caplog, capfd, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    settings.DLM_RCLONE_TIMEOUT = 10
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    caches["default"].clear()
    detector = Detector()

    with CaptureQueriesContext(connection):  # every query logged at DEBUG, with its values
        world = seed(detector, servers, lambda: CapturingClient(detector), tmp_path)
        copy_jobs(world, settings, monkeypatch, django_capture_on_commit_callbacks)
        detector.database("the database after the copies")
        walked = walk_api(world)
        ui_pages = walk_ui(world)
        admin_pages = walk_admin(world, detector)

        # A secret planted where each sweep looks: the sweeps must find it.
        planted = canary("planted")
        detector.add("planted", planted)
        log.debug("planted %s", planted)
        Location.objects.filter(pk=world.location.pk).update(location_city=planted)
        caches["default"].set("leak-planted", planted)
        world.api.get("/storage/query_location", {"location_name": world.location.location_name})
    _sweep(detector, caplog, capfd)
    assert " rcd " in detector.rclone_daemon()

    found = {finding.place for finding in detector.of("planted")}
    assert any(place.startswith("log record tests.leaks") for place in found), found
    assert any(place.endswith("table location") for place in found), found
    assert any("cache" in place for place in found), found
    assert any(place.startswith("GET /storage/query_location") for place in found), found
    operations = {
        op["operationId"] for item in world.api.get("/openapi.json").json()["paths"].values() for op in item.values()
    }
    assert walked == operations
    assert ui_pages > 100 and admin_pages > 100, (ui_pages, admin_pages)
    leaks = detector.leaks(besides="planted")
    assert not leaks, f"{len(leaks)} leak(s) in {detector.places} places searched:\n" + "\n".join(leaks)
