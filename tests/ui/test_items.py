"""The items pages: the list (search, filters, keyset pages) and an item's page with its copies,
history and copy jobs, and the operator's actions (set state, set expiry, copy, register), which
refuse what the API refuses, with its messages, and then change nothing."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from accounts.tokens import account_ensure
from audit.models import AuditRecord
from catalogue import services
from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.services.storages import rclone_config_clean
from core.secrets import split_secrets
from core.units import human_size
from migrations_app import jobs as job_queue
from migrations_app.models import Migration
from tests.conftest import Api
from tests.factories import make_copy_job, make_item, make_storage
from ui import item_search
from ui.item_search import PAGE_SIZE, Cursor

ITEM_STATES = "'INITIALISED', 'READY', 'CORRUPTED', 'EXPIRED' or 'DELETED'"


def _client_as(role: str | None, username: str | None = None) -> Client:
    """A browser logged in with an account holding ``role`` (None: an account without one)."""
    user = account_ensure(username=username or f"items-{role or 'norole'}", role=Role(role) if role else None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db) -> Client:
    return _client_as("viewer")


@pytest.fixture
def operator(db) -> Client:
    return _client_as("operator")


@pytest.fixture
def queued(monkeypatch) -> list:
    """What would be handed to django-q2 (the workers are not run here)."""
    calls: list = []
    monkeypatch.setattr(job_queue, "async_task", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def _configured(storage: Storage) -> Storage:
    """Give the storage a local-directory rclone remote, stored as the service stores it."""
    public, secrets = split_secrets(rclone_config_clean({"name": "disk", "type": "local", "root_path": "/"}))
    StorageConfig.objects.create(storage=storage, config_type="rclone", config=public, secrets=secrets)
    return storage


@pytest.fixture
def disks(db, tmp_path) -> tuple[Storage, Storage]:
    """Two local-directory storages with real rclone configs, their roots under ``tmp_path``."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_storage(storage_name="disk-a", root_directory=str(tmp_path / "a"))
    second = make_storage(storage_name="disk-b", root_directory=str(tmp_path / "b"), storage_phase="LIQUID")
    return _configured(first), _configured(second)


@pytest.fixture
def item(disks) -> DataItem:
    return make_item(
        disks[0],
        item_name="eb-1/vis.ms",
        uri="eb-1/vis.ms",
        item_state="READY",
        item_size=1536,
        item_checksum="0123abcd",
        checksum_method="md5",
        item_owner="alice",
        uid_expiration=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
        last_check=datetime(2030, 6, 7, 8, 9, 10, tzinfo=UTC),
        metadata={"execution_block": "eb-1", "nested": {"k": [1, 2]}},
    )


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _uids_on(response) -> list[str]:
    """The uids the list links to, in the order shown."""
    body = response.content.decode()
    table = body[body.index("<tbody>") : body.index("</tbody>")]
    return re.findall(r'href="/items/([0-9a-f-]{36})"', table)


def _link(response, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', response.content.decode())
    return html.unescape(match.group(1)) if match else None


# --- the list: access -----------------------------------------------------------------------------


def test_items_list_sends_anonymous_visitors_to_the_login_page(db):
    response = Client().get("/items?state=READY")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/items%3Fstate%3DREADY"


def test_items_list_refuses_an_account_without_a_role(db):
    response = _client_as(None).get("/items")

    assert response.status_code == 403
    assert "needs the <strong>viewer</strong> role" in response.content.decode()


def test_items_list_shows_the_items_with_their_columns(viewer, item, disks):
    other = make_item(disks[1], item_name="eb-2/cal.h5", item_state="INITIALISED", item_owner="bob", item_size=None)

    response = viewer.get("/items")

    assert response.status_code == 200
    text = _text(response)
    assert _uids_on(response) == [str(item.uid), str(other.uid)]
    assert f'<a href="/items/{item.uid}">eb-1/vis.ms</a>' in text
    for shown in ("READY", "INITIALISED", "disk-a", "disk-b", "1.5 KiB", "alice", "bob", "2031-01-02</span> 03:04"):
        assert shown in text
    assert "2 items on this page; oldest first." in text
    assert 'class="table-wrap"' in text
    assert 'rel="next"' not in text and 'rel="prev"' not in text and 'rel="first"' not in text


def test_every_filter_input_has_a_label(viewer, item):
    body = viewer.get("/items").content.decode()

    start = body.index('<form method="get"')
    form = body[start : body.index("</form>", start)]
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', form)
    assert len(ids) == 9
    for input_id in ids:
        assert f'<label for="{input_id}">' in form


def test_an_empty_catalogue_says_so(viewer):
    response = viewer.get("/items")

    assert response.status_code == 200
    assert "No items." in _text(response)


# --- the list: keyset pages -----------------------------------------------------------------------


@pytest.fixture
def many(disks) -> list[DataItem]:
    """120 items in three bulk inserts: each insert's items share their ``uid_creation``, so the
    order within them is by uid."""
    items: list[DataItem] = []
    for batch in range(3):
        rows = [{"item_name": f"bulk-{batch}-{n:03d}", "storage_id": disks[n % 2].storage_id} for n in range(40)]
        items += services.data_items_insert(rows=rows)
    return sorted(items, key=lambda i: (i.uid_creation, i.uid))


def test_walking_next_links_visits_every_item_once_in_order(viewer, many):
    seen: list[str] = []
    sizes = []
    url: str | None = "/items"
    while url:
        response = viewer.get(url)
        assert response.status_code == 200
        uids = _uids_on(response)
        seen += uids
        sizes.append(len(uids))
        url = _link(response, "next")
        if url:
            assert "more results on the next" in _text(response)

    assert sizes == [PAGE_SIZE, PAGE_SIZE, 20]
    assert seen == [str(i.uid) for i in many]


def test_previous_links_walk_back_through_the_same_pages(viewer, many):
    pages = []
    url: str | None = "/items"
    while url:
        response = viewer.get(url)
        pages.append(_uids_on(response))
        last = response
        url = _link(response, "next")

    back = []
    response = last
    while (url := _link(response, "prev")) is not None:
        response = viewer.get(url)
        back.append(_uids_on(response))

    assert back == pages[-2::-1]
    assert _link(response, "first") is None  # back at the first page


def test_a_later_page_links_to_the_first(viewer, many):
    second = viewer.get(_link(viewer.get("/items"), "next"))

    assert _link(second, "first") == "/items"
    assert _uids_on(viewer.get(_link(second, "first"))) == [str(i.uid) for i in many[:PAGE_SIZE]]


@pytest.fixture
def campaign(disks) -> list[DataItem]:
    """130 items, in batches of ten sharing their ``uid_creation``; a metadata value held by a few
    early ones and by every late one (as a campaign's items are)."""
    items: list[DataItem] = []
    for batch in range(13):
        rows = []
        for n in range(10):
            index = batch * 10 + n
            late = index >= 70 or index % 9 == 0
            metadata = {"campaign": "late" if late else "early", "index": index}
            rows.append({"item_name": f"c-{index:03d}", "storage_id": disks[0].storage_id, "metadata": metadata})
        items += services.data_items_insert(rows=rows)
    return sorted(items, key=lambda i: (i.uid_creation, i.uid))


@pytest.mark.parametrize("window", [7, 25, 5000])
def test_a_metadata_search_walks_its_pages_window_by_window(viewer, campaign, monkeypatch, window):
    # A small window makes the pages come from both searches: the window's, and the index's after it.
    monkeypatch.setattr(item_search, "SEARCH_WINDOW", window)
    expected = [str(i.uid) for i in campaign if i.metadata["campaign"] == "late"]

    pages = []
    url: str | None = "/items?meta_key=campaign&meta_value=late"
    while url:
        response = viewer.get(url)
        assert response.status_code == 200
        pages.append(_uids_on(response))
        last, url = response, _link(response, "next")
    back = []
    while (url := _link(last, "prev")) is not None:
        last = viewer.get(url)
        back.append(_uids_on(last))

    assert [uid for page in pages for uid in page] == expected
    assert [len(page) for page in pages] == [PAGE_SIZE, len(expected) - PAGE_SIZE]
    assert back == pages[-2::-1]


def test_paging_links_keep_the_filters(viewer, many, disks):
    response = viewer.get("/items", {"storage": "disk-a", "q": "bulk-"})

    following = _link(response, "next")
    assert "storage=disk-a" in following and "q=bulk-" in following
    walked = _uids_on(response) + _uids_on(viewer.get(following))
    assert walked == [str(i.uid) for i in many if i.storage_id == disks[0].storage_id]


def test_a_page_costs_a_bounded_number_of_queries(viewer, many, django_assert_max_num_queries):
    url = _link(viewer.get("/items"), "next")
    # session, account, role, storages for the filter form, the page itself
    with django_assert_max_num_queries(6):
        response = viewer.get(url + "&state=INITIALISED")
    assert response.status_code == 200


def test_a_bad_cursor_is_refused(viewer, many):
    response = viewer.get("/items", {"after": "not-a-cursor"})

    assert response.status_code == 400
    assert "after: not a position in the list" in _text(response)


def test_cursors_read_back_what_they_write():
    cursor = Cursor(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), uuid.uuid4())

    assert Cursor.parse(str(cursor)) == cursor
    assert Cursor.parse(str(Cursor(datetime(1960, 1, 1, tzinfo=UTC), cursor.uid))).created.year == 1960


# --- the list: filters ----------------------------------------------------------------------------


@pytest.fixture
def assorted(disks) -> dict[str, DataItem]:
    a, b = disks
    now = timezone.now()
    return {
        "ready": make_item(
            a,
            item_name="obs/eb-1.ms",
            item_state="READY",
            uid_phase="GAS",
            item_type="file",
            item_owner="alice",
            uid_expiration=now + timedelta(days=2),
            metadata={"execution_block": "eb-1", "n": 3, "flag": True},
        ),
        "corrupted": make_item(
            b,
            item_name="obs/eb-2.ms",
            item_state="CORRUPTED",
            uid_phase="LIQUID",
            item_type="container",
            item_owner="bob",
            uid_expiration=now + timedelta(days=20),
            metadata={"execution_block": "eb-2", "n": "3"},
        ),
        "other": make_item(
            b,
            item_name="cal/table.h5",
            item_state="READY",
            uid_phase="SOLID",
            item_type="file",
            item_owner="alice",
            uid_expiration=now - timedelta(days=1),
            metadata={"execution_block": "eb-1", "x": None},
        ),
        "bare": make_item(a, item_name="Obs-upper", item_state="INITIALISED", metadata=None, uid_expiration=None),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "obs/"}, ["ready", "corrupted"]),
        ({"q": "cal/t"}, ["other"]),
        ({"q": "obs"}, ["ready", "corrupted"]),  # a name's case counts, on both databases
        ({"q": "Obs"}, ["bare"]),
        ({"q": "OBS/"}, []),
        ({"state": "READY"}, ["ready", "other"]),
        ({"storage": "disk-b"}, ["corrupted", "other"]),
        ({"storage": "no-such-disk"}, []),
        ({"phase": "LIQUID"}, ["corrupted"]),
        ({"type": "container"}, ["corrupted"]),
        ({"owner": "alice"}, ["ready", "other"]),
        ({"expires_within_days": "7"}, ["ready"]),
        ({"expires_within_days": "30"}, ["ready", "corrupted"]),
        ({"meta_key": "execution_block", "meta_value": "eb-1"}, ["ready", "other"]),
        ({"meta_key": "n", "meta_value": "3"}, ["ready", "corrupted"]),  # the number and the text
        ({"meta_key": "n", "meta_value": "true"}, []),
        ({"meta_key": "flag", "meta_value": "true"}, ["ready"]),
        ({"meta_key": "x", "meta_value": "null"}, ["other"]),
        ({"meta_key": "execution_block", "meta_value": "eb-9"}, []),
        ({"state": "READY", "owner": "alice", "storage": "disk-b"}, ["other"]),
        ({"q": "obs/", "meta_key": "execution_block", "meta_value": "eb-2", "type": "container"}, ["corrupted"]),
        ({"state": "READY", "phase": "LIQUID"}, []),
    ],
)
def test_filters_narrow_the_list_and_combine(viewer, assorted, query, expected):
    response = viewer.get("/items", query)

    assert response.status_code == 200
    assert _uids_on(response) == [str(assorted[name].uid) for name in expected]


@pytest.mark.parametrize("candidates", [item_search.NAME_CANDIDATES, 1], ids=["few share it", "many share it"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "obs/"}, ["ready", "corrupted"]),
        ({"q": "obs/", "state": "CORRUPTED", "storage": "disk-b", "owner": "bob"}, ["corrupted"]),
        ({"q": "obs/", "phase": "GAS", "type": "file"}, ["ready"]),
        ({"q": "obs/", "state": "READY", "storage": "disk-b"}, []),
        ({"q": "O"}, ["bare"]),
    ],
)
def test_a_name_prefix_finds_the_same_items_however_many_share_it(
    viewer, assorted, monkeypatch, candidates, query, expected
):
    """On SQLite a prefix few names share is read from the name index first, one more share is
    compared along the catalogue's order: both find the same items (PostgreSQL has one road)."""
    monkeypatch.setattr(item_search, "NAME_CANDIDATES", candidates)

    assert _uids_on(viewer.get("/items", query)) == [str(assorted[name].uid) for name in expected]


def test_a_rare_name_prefix_with_a_common_state_is_read_by_keys_not_by_the_state(viewer, disks):
    """SQLite, without statistics, would answer ``item_state = 'READY'`` from its index (every
    READY copy of the catalogue, 0.4 s at 1,000,000) rather than the few keys of the name."""
    wanted = [make_item(disks[n % 2], item_name=f"run-7/part-{n}", item_state="READY") for n in range(3)]
    for n in range(30):
        make_item(disks[n % 2], item_name=f"run-{n + 10}/part", item_state="READY")

    with CaptureQueriesContext(connection) as captured:
        response = viewer.get("/items", {"q": "run-7/", "state": "READY", "storage": "disk-a"})

    assert _uids_on(response) == [str(item.uid) for item in wanted if item.storage_id == disks[0].storage_id]
    if connection.vendor == "sqlite":
        page = [q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"] and '"data_item"' in q["sql"]]
        assert page
        with connection.cursor() as cursor:
            for sql in page:
                plan = " ".join(str(row) for row in cursor.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
                assert "(uid=?)" in plan, plan


def test_a_uuid_query_finds_the_copy_and_every_copy_of_the_object(viewer, assorted, disks):
    source = assorted["ready"]
    copy = make_item(disks[1], item_name=source.item_name, oid=source.uid)

    by_uid = _uids_on(viewer.get("/items", {"q": str(copy.uid)}))
    by_oid = _uids_on(viewer.get("/items", {"q": str(source.oid)}))

    assert by_uid == [str(copy.uid)]
    assert by_oid == [str(source.uid), str(copy.uid)]


def test_the_filter_form_shows_the_filters_in_use(viewer, assorted):
    text = _text(viewer.get("/items", {"state": "CORRUPTED", "storage": "disk-b", "owner": "bob", "q": "obs/"}))

    assert '<option value="CORRUPTED" selected>' in text
    assert '<option value="disk-b" selected>' in text
    assert 'name="owner" value="bob"' in text
    assert 'name="q" value="obs/"' in text
    assert '<a class="button secondary" href="/items">Clear</a>' in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": "ready"}, f"state: Input should be {ITEM_STATES}"),
        ({"phase": "gas"}, "phase: Input should be 'PLASMA', 'GAS', 'LIQUID' or 'SOLID'"),
        ({"expires_within_days": "soon"}, "expires_within_days: Input should be a valid integer"),
        ({"expires_within_days": "-1"}, "expires_within_days must be 0 to 36500"),
        ({"owner": "a\x00b"}, "owner: Input should not contain NUL characters"),
        ({"meta_value": "x"}, "meta_key: a metadata value needs the key it is under"),
        ({"meta_key": "x"}, "meta_value: a metadata key needs the value to look for"),
    ],
)
def test_a_bad_filter_is_named_and_nothing_is_listed(viewer, assorted, query, message):
    response = viewer.get("/items", query)

    assert response.status_code == 400
    text = _text(response)
    assert message in text
    assert "<tbody>" not in text


# --- the item page --------------------------------------------------------------------------------


def test_item_page_sends_anonymous_visitors_to_the_login_page(item):
    response = Client().get(f"/items/{item.uid}")

    assert response.status_code == 302
    assert response["Location"] == f"/login?next=/items/{item.uid}"


@pytest.mark.parametrize("ref", [str(uuid.uuid4()), "not-a-uuid", "123"])
def test_an_unknown_or_invalid_uid_is_an_html_404(viewer, ref):
    response = viewer.get(f"/items/{ref}")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "No such item" in _text(response)


def test_item_page_shows_the_item_its_copies_and_its_jobs(viewer, item, disks, queued):
    copy = make_item(
        disks[1], item_name=item.item_name, uri="copies/vis.ms", oid=item.uid, item_state="INITIALISED", item_size=1536
    )
    unrelated = make_item(disks[1], item_name="unrelated")
    job = make_copy_job(disks[0], disks[1], oid=item.oid, source_uid=item.uid, destination_uid=copy.uid)

    response = viewer.get(f"/items/{item.uid}")

    assert response.status_code == 200
    text = _text(response)
    assert "<h1" in text and "eb-1/vis.ms" in text
    for field in ("item_version", "uid_phase", "target_phase", "item_owner", "hashes", "checksum_method"):
        assert f"<code>{field}</code>" in text
    assert '"execution_block": "eb-1"' in text
    assert '"nested": {\n    "k": [\n      1,\n      2\n    ]\n  }' in text  # pretty-printed
    copies = text[text.index('id="copies-heading"') : text.index('id="jobs-heading"')]
    assert str(item.uid) in copies and str(copy.uid) in copies and str(unrelated.uid) not in copies
    assert f'<a href="/storages/{disks[1].storage_id}">disk-b</a>' in copies
    assert "copies/vis.ms" in copies
    assert "<code>0123abcd</code>" in copies and "md5" in copies
    assert "2030-06-07</span> 08:09" in copies  # verified (last_check)
    assert ">no<" in copies  # the new copy is not verified
    jobs = text[text.index('id="jobs-heading"') : text.index('id="history-heading"')]
    assert f'<a href="/jobs/{job.migration_id}">Job {job.migration_id}</a>' in jobs


def test_item_page_shows_the_history_newest_first(operator, item):
    assert operator.post(f"/items/{item.uid}/state", {"state": "CORRUPTED"}).status_code == 302
    assert operator.post(f"/items/{item.uid}/state", {"state": "EXPIRED"}).status_code == 302

    text = _text(operator.get(f"/items/{item.uid}"))

    history = text[text.index('id="history-heading"') : text.index('id="fields-heading"')]
    newest = history.index('CORRUPTED</span> → <span class="item-after">EXPIRED')
    older = history.index('READY</span> → <span class="item-after">CORRUPTED')
    assert newest < older
    assert "items-operator" in history and "web UI" in history and "ui:item_set_state" in history


def test_item_page_shows_no_actions_to_a_viewer(viewer, item):
    text = _text(viewer.get(f"/items/{item.uid}"))

    assert '<form method="post" action="/items/' not in text
    assert "Set state" not in text


def test_item_page_shows_the_actions_to_an_operator_with_labels(operator, item):
    text = _text(operator.get(f"/items/{item.uid}"))

    for action in ("state", "expiry", "copy", "register"):
        assert f'action="/items/{item.uid}/{action}"' in text
    actions = text[text.index('id="actions-heading"') : text.index('id="copies-heading"')]
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', actions)
    assert len(ids) == 8
    for input_id in ids:
        assert f'<label for="{input_id}">' in actions
    assert 'name="csrfmiddlewaretoken"' in actions
    assert 'value="2031-01-02T03:04:05"' in actions  # the current expiry, to edit


def test_item_page_queries_do_not_grow_with_copies_and_history(operator, item, disks, django_assert_max_num_queries):
    for n in range(5):
        storage = make_storage(storage_name=f"extra-{n}")
        make_item(storage, item_name=item.item_name, oid=item.uid)
        operator.post(f"/items/{item.uid}/state", {"state": "READY" if n % 2 else "EXPIRED"})
    # session, account, role, item, copies, jobs, history, storages (for the actions)
    with django_assert_max_num_queries(9):
        assert operator.get(f"/items/{item.uid}").status_code == 200


# --- actions: who may ------------------------------------------------------------------------------

ACTIONS = {
    "state": {"state": "CORRUPTED"},
    "expiry": {"expiration": "2032-01-01T00:00"},
    "copy": {"destination_name": "disk-b"},
    "register": {"item_name": "x", "uri": "x", "storage_name": "disk-a"},
}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_viewer_may_not_act(viewer, item, action):
    before = DataItem.objects.get(uid=item.uid)

    response = viewer.post(f"/items/{item.uid}/{action}", ACTIONS[action])

    assert response.status_code == 403
    assert "needs the <strong>operator</strong> role" in response.content.decode()
    assert DataItem.objects.count() == 1 and Migration.objects.count() == 0
    after = DataItem.objects.get(uid=item.uid)
    assert (after.item_state, after.uid_expiration) == (before.item_state, before.uid_expiration)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_anonymous_post_goes_to_the_login_page(item, action):
    response = Client().post(f"/items/{item.uid}/{action}", ACTIONS[action])

    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")
    assert DataItem.objects.get(uid=item.uid).item_state == "READY"


def test_actions_need_the_csrf_token(item):
    client = Client(enforce_csrf_checks=True)
    client.force_login(account_ensure(username="csrf-op", role=Role.OPERATOR))

    response = client.post(f"/items/{item.uid}/state", {"state": "CORRUPTED"})

    assert response.status_code == 403
    assert DataItem.objects.get(uid=item.uid).item_state == "READY"


def test_an_action_is_a_post(operator, item):
    assert operator.get(f"/items/{item.uid}/state").status_code == 405


def test_an_action_on_an_unknown_item_is_a_404(operator):
    response = operator.post(f"/items/{uuid.uuid4()}/state", {"state": "READY"})

    assert response.status_code == 404
    assert "No such item" in _text(response)


# --- actions: set state and expiry --------------------------------------------------------------


def test_set_state(operator, item):
    response = operator.post(f"/items/{item.uid}/state", {"state": "CORRUPTED"})

    assert response.status_code == 302
    assert response["Location"] == f"/items/{item.uid}"
    assert DataItem.objects.get(uid=item.uid).item_state == "CORRUPTED"
    record = AuditRecord.objects.get(object_type="data_item", object_id=str(item.uid), action="update")
    assert record.changes == {"item_state": ["READY", "CORRUPTED"]}
    assert (record.username, record.via, record.operation) == ("items-operator", "ui", "ui:item_set_state")
    assert "State set to CORRUPTED." in _text(operator.get(response["Location"]))


@pytest.mark.parametrize("sent", [{"state": "ready"}, {"state": "BOGUS"}, {}])
def test_set_state_refuses_what_the_api_refuses_with_its_message(operator, operator_api: Api, item, sent):
    api = operator_api.patch("/request/set_state", {"uid": str(item.uid), **sent})
    assert api.status_code == 422
    (expected,) = api.json()["detail"]

    response = operator.post(f"/items/{item.uid}/state", sent)

    assert response.status_code == 422
    assert f"state: {expected['msg']}" in _text(response)
    assert DataItem.objects.get(uid=item.uid).item_state == "READY"
    assert not AuditRecord.objects.filter(object_id=str(item.uid), action="update").exists()


def test_set_expiry_takes_a_local_datetime_as_utc(operator, item):
    response = operator.post(f"/items/{item.uid}/expiry", {"expiration": "2032-02-03T04:05"})

    assert response.status_code == 302
    assert DataItem.objects.get(uid=item.uid).uid_expiration == datetime(2032, 2, 3, 4, 5, tzinfo=UTC)
    assert "Expiry set to 2032-02-03 04:05:00 UTC." in _text(operator.get(response["Location"]))


@pytest.mark.parametrize("value", ["", "tomorrow", "2032-13-01T00:00"])
def test_set_expiry_refuses_what_the_api_refuses_with_its_message(operator, operator_api: Api, item, value):
    api = operator_api.patch("/request/set_uid_expiration", {"uid": str(item.uid), "expiration": value})
    assert api.status_code == 422
    (expected,) = api.json()["detail"]

    response = operator.post(f"/items/{item.uid}/expiry", {"expiration": value})

    assert response.status_code == 422
    text = _text(response)
    assert f"expiration: {expected['msg']}" in text
    assert f'value="{value}"' in text  # the form as it was sent
    assert DataItem.objects.get(uid=item.uid).uid_expiration == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- actions: copy to a storage -------------------------------------------------------------------


def test_copy_to_a_storage_creates_the_job_and_the_destination_copy(
    operator, item, disks, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/items/{item.uid}/copy", {"destination_name": "disk-b", "path": "copies/vis.ms"})

    job = Migration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.migration_id}"
    assert (job.source_uid, job.oid, job.state, job.user) == (item.uid, item.oid, "queued", "items-operator")
    assert job.destination_storage_id == disks[1].storage_id
    copy = DataItem.objects.get(uid=job.destination_uid)
    assert (copy.item_state, copy.oid, copy.storage_id, copy.uri) == (
        "INITIALISED",
        item.oid,
        disks[1].storage_id,
        "copies/vis.ms",
    )
    assert [args for args, _ in queued] == [(job_queue.COPY_TASK, job.migration_id)]  # handed to the workers


def _state_of_the_catalogue() -> tuple[int, int, list]:
    return DataItem.objects.count(), Migration.objects.count(), list(DataItem.objects.values_list("uid", "item_state"))


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({}, None),  # no destination
        ({"destination_name": "nowhere"}, None),
        ({"destination_name": "disk-a"}, None),  # the item's own storage
        ({"destination_name": "disk-b", "path": "../outside"}, "path"),
        ({"destination_name": "disk-b", "path": "a\\b"}, "path"),
    ],
)
def test_copy_refuses_what_the_api_refuses_with_its_message(
    operator, operator_api: Api, item, sent, field, django_capture_on_commit_callbacks
):
    before = _state_of_the_catalogue()
    api = operator_api.post("/migration/copy_data_item", {"uid": str(item.uid), **sent})
    assert api.status_code == 422
    expected = f"{field}: {api.json()['detail'][0]['msg']}" if field else api.json()["message"]

    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(f"/items/{item.uid}/copy", sent)

    assert response.status_code == 422
    assert expected in _text(response)
    assert _state_of_the_catalogue() == before
    assert callbacks == []  # nothing handed to the workers


def test_copy_refuses_a_copy_that_is_not_ready(operator, item, queued):
    DataItem.objects.filter(uid=item.uid).update(item_state="INITIALISED")

    response = operator.post(f"/items/{item.uid}/copy", {"destination_name": "disk-b"})

    assert response.status_code == 422
    assert f"The source copy {item.uid} is INITIALISED, not READY" in _text(response)
    assert Migration.objects.count() == 0


# --- actions: register another file ---------------------------------------------------------------


def test_register_another_file_checks_it_and_opens_the_new_item(operator, item, disks, tmp_path):
    data = b"more visibilities" * 10
    (tmp_path / "b" / "eb-2").mkdir()
    (tmp_path / "b" / "eb-2" / "vis.fits").write_bytes(data)

    response = operator.post(
        f"/items/{item.uid}/register",
        {"item_name": "eb-2/vis.fits", "uri": "eb-2/vis.fits", "storage_name": "disk-b", "item_type": "file"},
    )

    new = DataItem.objects.get(item_name="eb-2/vis.fits")
    assert response.status_code == 302
    assert response["Location"] == f"/items/{new.uid}"
    assert (new.item_state, new.storage_id, new.item_owner) == ("READY", disks[1].storage_id, "items-operator")
    assert (new.item_size, new.item_checksum, new.checksum_method) == (len(data), hashlib.md5(data).hexdigest(), "md5")
    assert new.last_check is not None
    assert new.oid == new.uid  # a new object
    assert f"Registered eb-2/vis.fits ({new.uid})." in _text(operator.get(response["Location"]))


@pytest.mark.parametrize(
    "sent",
    [
        {"item_name": "eb-3/missing.fits", "uri": "eb-3/missing.fits", "storage_name": "disk-b"},  # no such file
        {"item_name": "eb-1/vis.ms", "uri": "eb-1/vis.ms", "storage_name": "disk-a"},  # already registered there
        {"item_name": "x", "uri": "x", "storage_name": "no-such-disk"},
        {"item_name": "x", "uri": "x", "storage_name": ""},
        {"item_name": "", "uri": "../x", "storage_name": "disk-b"},  # two problems, both shown
        {"item_name": "x", "uri": "x", "storage_name": "disk-b", "item_type": "folder"},
    ],
)
def test_register_refuses_what_the_api_refuses_with_its_messages(operator, operator_api: Api, item, sent):
    before = _state_of_the_catalogue()
    api = operator_api.post("/ingest/register_data_item", sent)
    assert api.status_code == 422, api.content
    body = api.json()
    expected = [f"{e['loc'][-1]}: {e['msg']}" for e in body["detail"]] if "detail" in body else [body["message"]]

    response = operator.post(f"/items/{item.uid}/register", sent)

    assert response.status_code == 422
    text = _text(response)
    for message in expected:
        assert message in text
    assert f'name="item_name" value="{sent["item_name"]}"' in text  # the form as it was sent
    if "item_type" not in sent:
        assert '<option value="file" selected>' in text  # the API's default
    assert _state_of_the_catalogue() == before


# --- figures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, ""), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB"), (2**63 - 1, "8.0 EiB")],
)
def test_sizes_are_shown_in_binary_units(size, shown):
    assert human_size(size) == shown


def test_static_stylesheet_is_linked(viewer, item):
    assert "/static/ui/items.css" in viewer.get("/items").content.decode()
    assert Path("ui/static/ui/items.css").exists()


# --- registering a first item ---------------------------------------------------------------------


@pytest.mark.django_db
def test_register_page_registers_a_file_checked_through_rclone(tmp_path):
    storage = make_storage(storage_name="reg-local", root_directory="")
    services.storage_config_create(
        storage_id=storage.storage_id,
        config={"name": "reg", "type": "local", "root_path": str(tmp_path)},
        check_remote=False,
    )
    (tmp_path / "obs.fits").write_bytes(b"fits bytes")
    operator = _client_as("operator", "ui-operator")
    page = operator.get("/items/register?storage=reg-local")
    assert page.status_code == 200 and b'<option value="reg-local" selected>' in page.content

    missing = operator.post(
        "/items/register", {"item_name": "gone", "uri": "gone.fits", "storage_name": "reg-local", "item_type": "file"}
    )
    assert missing.status_code == 422 and b"No file at" in missing.content
    assert not DataItem.objects.filter(item_name="gone").exists()

    done = operator.post(
        "/items/register", {"item_name": "obs", "uri": "obs.fits", "storage_name": "reg-local", "item_type": "file"}
    )
    item = DataItem.objects.get(item_name="obs")
    assert done.status_code == 302 and done["Location"] == f"/items/{item.uid}"
    assert item.item_size == len(b"fits bytes") and item.item_state == "READY"
    assert item.item_owner == "ui-operator"


@pytest.mark.django_db
def test_register_page_is_for_operators():
    assert _client_as("viewer").get("/items/register").status_code == 403
    response = Client().get("/items/register")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=/items/register")
