"""Which rclone errors are permanent (a copy fails at once) and which are passing (it is tried
again): ``error_is_permanent`` over rclone's own texts, most of them provoked from a real rclone
(the rows marked "seen"), and ``RcloneError.permanent`` on errors provoked through the client."""

from __future__ import annotations

import pytest

from core import rclone
from tests.storage_servers import _free_port

PERMANENT = [
    # seen: local disk, a destination under a regular file / onto a directory / a name too long
    ("lstat /data/plainfile/sub/f.txt: not a directory", 500),
    ("is a directory not a file", 500),
    ("lstat /data/" + "n" * 300 + ": file name too long", 500),
    # seen: sftp, a destination under a regular file
    ("Put mkParentDir failed: mkdir dirExists failed: is a file not a directory", 500),
    # seen: rclone run by an account that may not write there
    ("open /data/locked/x.txt.4b3fff10.partial: permission denied", 500),
    ("mkdir /data/locked/newdir: permission denied", 500),
    ('failed to open directory "": open /root: permission denied', 500),
    ("open /mnt/ro/x.txt.1f2e3d4c.partial: read-only file system", 500),
    ("chtimes /data/x.txt: operation not permitted", 500),
    # seen: rclone serve s3 with a wrong secret, a wrong key, a missing bucket
    (
        "operation error S3: ListObjectsV2, https response error StatusCode: 403, RequestID: , HostID: , "
        "api error SignatureDoesNotMatch: The request signature we calculated does not match the signature "
        "you provided. Check your key and signing method.",
        500,
    ),
    (
        "error in ListJSON: operation error S3: ListObjectsV2, https response error StatusCode: 403, RequestID: , "
        "HostID: , api error InvalidAccessKeyId: The Access Key Id you provided does not exist in our records.",
        500,
    ),
    (
        "operation error S3: HeadObject, https response error StatusCode: 403, RequestID: , HostID: , "
        "api error Forbidden: Forbidden",
        500,
    ),
    (
        "operation error S3: PutObject, https response error StatusCode: 404, RequestID: 611697A3981AD8EC, "
        "HostID: NjExNjk3QTM5ODFBRDhFQw==, api error NoSuchBucket: The specified bucket does not exist",
        500,
    ),
    # AWS's own words for a refused key
    (
        "operation error S3: PutObject, https response error StatusCode: 403, RequestID: 4Q3Z, HostID: x, "
        "api error AccessDenied: Access Denied",
        None,
    ),
    # seen: sftp with a wrong password
    (
        "NewFs: couldn't connect SSH: ssh: handshake failed: ssh: unable to authenticate, attempted methods "
        "[none password], no supported methods remain",
        500,
    ),
    # seen: webdav with a wrong password, http behind a login
    ("couldn't list files: 401 Unauthorized: 401 Unauthorized", 500),
    ("read metadata failed: 401 Unauthorized: 401 Unauthorized", 500),
    ('error listing "": failed to readDir: HTTP Error: 401 Unauthorized', 500),
    ("failed to stat: HTTP Error: 403 Forbidden", 500),
    # seen: a remote definition naming no backend; parameters the daemon refuses
    ('didn\'t find backend called "no-such-backend"', 500),
    ('Didn\'t find key "remote" in input', 400),
    # words that look like a passing fault inside a path do not count
    ("mkdir /data/timeout_logs: permission denied", 500),
    ("lstat /data/eof/x: not a directory", 500),
]

TRANSIENT = [
    # seen: a closed port, for S3 and sftp
    (
        "operation error S3: ListObjectsV2, exceeded maximum number of attempts, 2, https response error "
        'StatusCode: 0, RequestID: , HostID: , request send failed, Get "http://127.0.0.1:51651/bucket1?'
        'delimiter=%2F&list-type=2": dial tcp 127.0.0.1:51651: connect: connection refused',
        500,
    ),
    ("NewFs: couldn't connect SSH: dial tcp 127.0.0.1:54473: connect: connection refused", 500),
    ("read tcp 10.0.0.5:51234->10.0.0.9:22: read: connection reset by peer", 500),
    ("write tcp 10.0.0.5:51234->10.0.0.9:443: write: broken pipe", 500),
    ("dial tcp 10.1.2.3:443: i/o timeout", 500),
    ("context deadline exceeded", 500),
    ('Get "https://store.example.org/b/x": net/http: timeout awaiting response headers', 500),
    ("couldn't connect SSH: ssh: handshake failed: EOF", 500),  # a server that hung up, not a refusal
    ("failed to read: unexpected EOF", 500),
    (
        "operation error S3: PutObject, exceeded maximum number of attempts, 3, https response error "
        "StatusCode: 503, RequestID: 1, HostID: 2, api error SlowDown: Please reduce your request rate.",
        500,
    ),
    (
        "operation error S3: GetObject, https response error StatusCode: 500, RequestID: 1, HostID: 2, "
        "api error InternalError: We encountered an internal error. Please try again.",
        500,
    ),
    (
        "operation error S3: UploadPart, https response error StatusCode: 400, RequestID: 1, HostID: 2, "
        "api error RequestTimeout: Your socket connection to the server was not read from or written to "
        "within the timeout period.",
        None,
    ),
    ("failed to stat: HTTP Error: 502 Bad Gateway", 500),
    ("couldn't list files: 503 Service Unavailable: 503 Service Unavailable", 500),
    ("write /data/x.txt.5c6d.partial: no space left on device", 500),  # space may be freed
    ("dial tcp: lookup store.example.org: Temporary failure in name resolution", 500),
    # DLM's own: a daemon that could not be reached or died
    ("rclone could not be reached: its daemon stopped (exit status -9) during the call (Connection reset)", None),
    ("rclone could not be reached: its daemon could not be started (Permission denied)", None),
    ("rclone could not be reached: its daemon does not listen on its socket (Connection refused)", None),
    ("rclone did not answer within 30 s", None),
    ("rclone stopped during the job: its daemon died (it has been restarted)", None),
    # unsure: passing
    ("object not found", 404),
    ("directory not found", 404),
    ("job not found", 500),
    ("something nobody has seen before", 500),
    ("", None),
]


@pytest.mark.parametrize(
    ("message", "status", "expected"),
    [(message, status, True) for message, status in PERMANENT]
    + [(message, status, False) for message, status in TRANSIENT],
)
def test_error_is_permanent(message, status, expected):
    assert rclone.error_is_permanent(message, status) is expected
    assert rclone.RcloneError(message, status).permanent is expected


LOCAL = {"name": "l", "type": "local", "root_path": "/"}


def _provoked(call, *args, **kwargs) -> rclone.RcloneError:
    with pytest.raises(rclone.RcloneError) as caught:
        call(*args, **kwargs)
    return caught.value


def _with_parameters(config: dict, **parameters) -> dict:
    return {**config, "parameters": {**config["parameters"], **parameters}}


# --- permanent errors provoked from a real rclone -----------------------------------------------


def test_a_destination_under_a_regular_file_is_permanent(tmp_path):
    (tmp_path / "f.txt").write_text("hello")
    (tmp_path / "plain").write_text("x")

    error = _provoked(rclone.copy_file, LOCAL, str(tmp_path / "f.txt"), LOCAL, str(tmp_path / "plain" / "sub" / "f"))

    assert "not a directory" in str(error)
    assert error.permanent is True


def test_a_destination_that_is_a_directory_is_permanent(tmp_path):
    (tmp_path / "f.txt").write_text("hello")
    (tmp_path / "out" / "f.txt").mkdir(parents=True)

    error = _provoked(rclone.copy_file, LOCAL, str(tmp_path / "f.txt"), LOCAL, str(tmp_path / "out" / "f.txt"))

    assert "is a directory" in str(error)
    assert error.permanent is True


def test_a_name_too_long_is_permanent(tmp_path):
    (tmp_path / "f.txt").write_text("hello")

    error = _provoked(rclone.copy_file, LOCAL, str(tmp_path / "f.txt"), LOCAL, str(tmp_path / ("n" * 300)))

    assert "file name too long" in str(error)
    assert error.permanent is True


def test_a_wrong_s3_secret_is_permanent(s3_server, tmp_path):
    (tmp_path / "f.txt").write_text("hello")
    wrong = _with_parameters(s3_server.config, secret_access_key="SK-wrong-" + "8" * 20)

    listing = _provoked(rclone.list_files, wrong, "bucket1")
    copy = _provoked(rclone.copy_file, LOCAL, str(tmp_path / "f.txt"), wrong, "bucket1/f.txt")

    assert "SignatureDoesNotMatch" in str(listing) and "StatusCode: 403" in str(copy)
    assert listing.permanent is True and copy.permanent is True


def test_an_unknown_s3_key_is_permanent(s3_server):
    error = _provoked(rclone.list_files, _with_parameters(s3_server.config, access_key_id="AKNOBODY"), "bucket1")

    assert "InvalidAccessKeyId" in str(error)
    assert error.permanent is True


def test_a_missing_bucket_is_permanent(s3_server, tmp_path):
    (tmp_path / "f.txt").write_text("hello")
    unchecked = _with_parameters(s3_server.config, no_check_bucket="true")  # rclone would make it otherwise

    error = _provoked(rclone.copy_file, LOCAL, str(tmp_path / "f.txt"), unchecked, "no-such-bucket/f.txt")

    assert "NoSuchBucket" in str(error)
    assert error.permanent is True
    assert not (s3_server.root / "no-such-bucket").exists()


def test_a_wrong_sftp_password_is_permanent(sftp_server):
    error = _provoked(rclone.stat, _with_parameters(sftp_server.config, **{"pass": "nope-nope"}), "f.txt")

    assert "unable to authenticate" in str(error)
    assert error.permanent is True


# --- passing errors provoked from a real rclone -------------------------------------------------


def test_a_closed_s3_port_is_transient(s3_server):
    closed = _with_parameters(s3_server.config, endpoint=f"http://127.0.0.1:{_free_port()}")

    error = _provoked(rclone.stat, closed, "bucket1/f.txt")

    assert "connection refused" in str(error)
    assert error.permanent is False


def test_a_closed_sftp_port_is_transient(sftp_server):
    error = _provoked(rclone.stat, _with_parameters(sftp_server.config, port=str(_free_port())), "f.txt")

    assert "connection refused" in str(error)
    assert error.permanent is False
