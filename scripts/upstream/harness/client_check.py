"""Every operation of ska-dlm-client's generated OpenAPI client, against a DLM."""

import datetime
import inspect
import json
import re
import sys
import time
import uuid

from ska_dlm_client.openapi import (
    ApiClient,
    Configuration,
    GatewayApi,
    HTTPValidationError,
    IngestApi,
    MigrationApi,
    RequestApi,
    StorageApi,
    exceptions,
)

cfg = json.loads(open(sys.argv[1]).read())
URL, TOKEN, ROLE = cfg["url"], cfg["token"], cfg["role"]
client = ApiClient(Configuration(host=URL))
APIS = {cls.__name__: cls(client) for cls in (GatewayApi, StorageApi, IngestApi, RequestApi, MigrationApi)}

LAST = {}
_request = client.rest_client.request


def request(method, url, headers=None, body=None, post_params=None, _request_timeout=None):
    LAST.update(method=method, url=url, body=body)
    return _request(method, url, headers=headers, body=body, post_params=post_params, _request_timeout=_request_timeout)


client.rest_client.request = request

STAMP = datetime.datetime.now().strftime("%H%M%S")
ctx = {}
results = []


def declared(api, op):
    """The operation's declared 200 answer type (its _response_types_map)."""
    source = inspect.getsource(getattr(type(api), op))
    match = re.search(r'"200":\s*"([^"]+)"', source)
    return match.group(1) if match else None


def conforms(value, kind):
    """Whether a JSON value has the declared type (the generated client converts, never checks)."""
    if kind is None or kind == "object":
        return True
    if kind.startswith("Optional["):
        return value is None or conforms(value, kind[9:-1])
    if kind.startswith("List["):
        return isinstance(value, list) and all(conforms(v, kind[5:-1]) for v in value)
    if kind.startswith("Dict["):
        inner = kind[5:-1].split(",", 1)[1].strip()
        return isinstance(value, dict) and all(conforms(v, inner) for v in value.values())
    return {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
    }.get(kind, True)


def parses_as_validation_error(body):
    """A 422 answer parses into the generated HTTPValidationError (and its detail, if a list)."""
    try:
        model = HTTPValidationError.from_json(body or "{}")
    except Exception as exc:
        return f"the 422 answer does not parse into HTTPValidationError: {type(exc).__name__}: {exc}"[:600]
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list) and len(model.detail or []) != len(detail):
        return "the 422 answer's detail list does not parse into ValidationError items"
    return None


def call(api_name, op, note="", expect=200, **kwargs):
    """Call an operation; it passes when it answers ``expect`` and the answer parses."""
    api = APIS[api_name]
    LAST.clear()
    row = {"api": api_name, "operation": op, "note": note, "expect": expect}
    try:
        response = getattr(api, op + "_with_http_info")(**kwargs)
        raw = response.raw_data.decode("utf-8", "replace") if response.raw_data else ""
        row.update(status=response.status_code, answer=raw[:500])
        kind = declared(api, op)
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw
        if expect != 200:
            row.update(result="FAILED", error=f"expected {expect}")
        elif not conforms(value, kind):
            row.update(result="FAILED", error=f"answer is not a {kind}")
        else:
            row.update(result="ok", data=response.data)
    except exceptions.ApiException as exc:
        row.update(status=exc.status, answer=(exc.body or "")[:500])
        problem = parses_as_validation_error(exc.body) if exc.status == 422 else None
        if exc.status == expect and not problem:
            row.update(result="ok")
        else:
            row.update(result="FAILED", error=problem or f"{type(exc).__name__}({exc.status} {exc.reason})")
    except Exception as exc:  # a validation error of the generated models, or a connection error
        row.update(result="FAILED", status=None, answer="", error=f"{type(exc).__name__}: {exc}"[:800])
    request_line = f"{LAST.get('method', '?')} {LAST.get('url', '?')}"
    row["request"] = re.sub(r"((?:password|token)=)[^&]*", r"\1***", request_line)
    if LAST.get("body") is not None:
        row["request"] += " " + json.dumps(LAST["body"])[:300]
    row["answer"] = re.sub(r'("access_token"\s*:\s*")[^"]*', r"\1***", row.get("answer") or "")
    results.append(row)
    return row.get("data")


# --- gateway -------------------------------------------------------------------------------
call("GatewayApi", "heartbeat_heartbeat_get")
call("GatewayApi", "has_scope_scope_get", token=TOKEN, permission="res:storage#scope:read")
call(
    "GatewayApi",
    "token_by_username_password_token_by_username_password_get",
    note="the local admin account's password",
    username="admin",
    password=cfg["admin_password"],
)
call("GatewayApi", "token_by_auth_flow_token_by_auth_flow_get", note="a browser flow: the login page")
call("GatewayApi", "auth_callback_auth_callback_get")

# --- storage -------------------------------------------------------------------------------
call("StorageApi", "query_location_facility")
call("StorageApi", "query_location", location_name="client-loc")
call(
    "StorageApi",
    "init_location",
    location_name=f"client-loc-{STAMP}",
    location_type="local-dev",
    location_country="AU",
    location_city="Perth",
    location_facility="local",
)
call(
    "StorageApi",
    "init_storage",
    storage_name=f"client-disk-{STAMP}",
    storage_type="filesystem",
    root_directory=cfg["data_dir"],
    storage_interface="posix",
    location_name="client-loc",
    storage_phase="GAS",
)
call(
    "StorageApi",
    "create_storage_config",
    storage_name=f"client-disk-{STAMP}",
    request_body={"name": f"client-disk-{STAMP}", "type": "local", "root_path": "/"},
)
call(
    "StorageApi",
    "create_rclone_config",
    request_body={"name": f"client-remote-{STAMP}", "type": "local", "parameters": {}},
)
storages = call("StorageApi", "query_storage", storage_name="client-disk") or [{}]
ctx["storage_id"] = storages[0].get("storage_id")
archives = call("StorageApi", "query_storage", note="the copy destination", storage_name="client-archive") or [{}]
ctx["archive_id"] = archives[0].get("storage_id")
call("StorageApi", "get_storage_config", storage_name="client-disk")
call("StorageApi", "get_ssh_public_key")

# --- ingest --------------------------------------------------------------------------------
call("IngestApi", "init_data_item", item_name=f"client/init-{STAMP}")
ctx["uid"] = call(
    "IngestApi",
    "register_data_item",
    item_name=f"client/vis-{STAMP}.fits",
    uri=cfg["file_uri"],
    storage_name="client-disk",
    request_body={"execution_block": "eb-client-00000"},
)
uid = ctx["uid"] or str(uuid.uuid4())
rows = call("RequestApi", "query_data_item", uid=uid) or [{}]
oid = (rows[0] or {}).get("oid") or str(uuid.uuid4())
name = f"client/vis-{STAMP}.fits"

# --- request -------------------------------------------------------------------------------
call("RequestApi", "query_data_item", note="by item_name", item_name=name)
call("RequestApi", "query_exists", item_name=name)
call("RequestApi", "query_exists_and_ready", item_name=name)
call("RequestApi", "query_item_storage", item_name=name)
call("RequestApi", "query_new", check_date="2020-01-01")
call("RequestApi", "query_expired")
call("RequestApi", "query_deleted")
call("RequestApi", "set_acl", oid=oid, acl='{"read": ["ska"]}')
call("RequestApi", "set_group", oid=oid, group="ska-group")
call("RequestApi", "set_user", oid=oid, user="ska-user")
call("RequestApi", "set_metadata", uid=uid, request_body={"execution_block": "eb-client-00001"})
call("RequestApi", "set_oid_expiration", oid=oid, expiration="2099-01-01T00:00:00")
call("RequestApi", "set_uid_expiration", uid=uid, expiration="2098-01-01T00:00:00")
call("RequestApi", "set_phase", uid=uid, phase="LIQUID")
call("RequestApi", "set_uri", uid=uid, uri=cfg["file_uri"], storage_id=ctx["storage_id"] or str(uuid.uuid4()))
call("RequestApi", "update_data_item", uid=uid, request_body={"item_tags": {"client": "yes"}})
call("RequestApi", "update_item_tags", item_name=name, request_body={"band": "low"})
call("RequestApi", "set_state", uid=uid, state="READY")

# --- error answers parse too (422: the generated HTTPValidationError) ----------------------
call("RequestApi", "query_new", note="a bad date", expect=422, check_date="not-a-date")
call("StorageApi", "query_storage", note="a bad uuid", expect=422, storage_id="not-a-uuid")
call(
    "IngestApi",
    "register_data_item",
    note="no such file",
    expect=422,
    item_name="client/missing",
    uri="eb-client/missing.fits",
    storage_name="client-disk",
)

# --- migration -----------------------------------------------------------------------------
copied = call(
    "MigrationApi",
    "copy_data_item",
    uid=uid,
    destination_id=ctx["archive_id"] or str(uuid.uuid4()),
    path=f"eb-client/copy-{STAMP}.fits",
)
migration_id = (copied or {}).get("migration_id") or 0
record = None
for _ in range(60):  # the copy job's end, up to 30 s
    record = call("MigrationApi", "get_migration_record", migration_id=migration_id)
    status = ((record or [{}])[0] or {}).get("job_status") or {}
    if status.get("finished") or not record:
        break
    results.pop()
    time.sleep(0.5)
if record and not (record[0].get("complete") and ((record[0].get("job_status") or {}).get("success"))):
    results[-1].update(result="FAILED", error="the copy did not complete: " + json.dumps(record[0].get("job_status")))
call("MigrationApi", "query_migrations")

# Operations of the generated client this script did not call (there should be none).
called = {(r["api"], r["operation"]) for r in results}
for api_name, api in APIS.items():
    for op in dir(api):
        if op.startswith("_") or not hasattr(api, op + "_with_http_info"):
            continue
        if (api_name, op) not in called:
            results.append(
                {
                    "api": api_name,
                    "operation": op,
                    "result": "FAILED",
                    "error": "not called by this script",
                    "request": "",
                    "status": None,
                }
            )

for row in results:
    row.pop("data", None)
json.dump(results, open(sys.argv[2], "w"), indent=1)
