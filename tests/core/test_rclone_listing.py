"""The streamed recursive listing (``core.rclone.list_stream``) and moves within a remote, with a
real rclone on local directories and on the S3 test server: every file listed once, relative to
the path listed, hashes only when asked; secrets neither on the child's command line nor in errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core import rclone


def _tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha", "dir/b.bin": b"bravo!", "dir/sub/c": b"", "z/last": b"z" * 1000}
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return files


def test_a_local_tree_is_listed_file_by_file_relative_to_the_path(tmp_path):
    files = _tree(tmp_path / "data")
    listing = rclone.list_stream({"name": "disk", "type": "local", "root_path": str(tmp_path)}, "data")
    entries = {entry["Path"]: entry["Size"] for entry in listing}
    assert entries == {path: len(data) for path, data in files.items()}
    assert "--hash" not in listing.argv  # a local disk would read every byte to hash


def test_an_s3_bucket_is_listed_with_its_md5s_and_no_secret_on_the_command_line(s3_server):
    files = _tree(s3_server.root / "bucket1" / "obs")
    config = dict(s3_server.config)
    assert rclone.hashes_cheap(config)
    listing = rclone.list_stream(config, "bucket1/obs", hashes=True)
    entries = iter(listing)
    first = next(entries)
    cmdline = Path(f"/proc/{listing.pid}/cmdline").read_bytes().decode()
    assert s3_server.secret not in cmdline and "AKTEST" not in cmdline
    assert all(s3_server.secret not in arg for arg in listing.argv)
    rest = list(entries)
    listed = {entry["Path"]: entry for entry in [first, *rest]}
    assert set(listed) == set(files)
    assert listed["dir/b.bin"]["Hashes"]["md5"] == hashlib.md5(b"bravo!").hexdigest()


def test_leaving_a_listing_early_ends_rclone(tmp_path):
    _tree(tmp_path)
    listing = rclone.list_stream({"type": "local", "root_path": str(tmp_path)})
    entries = iter(listing)
    next(entries)
    entries.close()
    assert listing.process is not None and listing.process.poll() is not None


def test_a_missing_directory_is_a_404_error(tmp_path):
    listing = rclone.list_stream({"type": "local", "root_path": str(tmp_path)}, "nowhere")
    with pytest.raises(rclone.RcloneError) as caught:
        list(listing)
    assert caught.value.status == 404
    assert "directory not found" in str(caught.value)


def test_secrets_are_masked_in_a_listing_error():
    secret = "SK-sEcReT-value-123"  # quoted back by rclone in its complaint about the endpoint
    parameters = {"provider": "Rclone", "endpoint": f"http://%zz{secret}", "secret_access_key": secret}
    with pytest.raises(rclone.RcloneError) as caught:
        list(rclone.list_stream({"type": "s3", "parameters": {**parameters, "access_key_id": "AK"}}, "bucket"))
    assert "not a valid URI" in str(caught.value)
    assert secret not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_file_is_moved_within_a_remote(tmp_path):
    (tmp_path / "dark.bin").write_bytes(b"dark bytes")
    config = {"type": "local", "root_path": str(tmp_path)}
    rclone.move(config, "dark.bin", ".dlm-quarantine/1/dark.bin")
    assert not (tmp_path / "dark.bin").exists()
    assert (tmp_path / ".dlm-quarantine/1/dark.bin").read_bytes() == b"dark bytes"
    with pytest.raises(rclone.RcloneError):
        rclone.move(config, "dark.bin", "elsewhere.bin")
