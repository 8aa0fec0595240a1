"""A plain local disk's files described in this process: the same answers rclone's daemon gives,
without calling it, and rclone asked for everything that is not certainly the same."""

from __future__ import annotations

import hashlib
import os

import pytest

from core import rclone
from core.rclone import direct

ALL_HASHES = ("md5", "sha1", "sha256", "sha512", "crc32", "xxh3")
FILES = {
    "empty": b"",
    "abc": b"abc",
    "dir/with space.txt": b"spaced",
    "dir/#hash": b"#",
    "dir/ünïcödé-名前.fits": "ünïcödé".encode() * 100,
    "dir/deep/big.bin": os.urandom(3 * 1024 * 1024 + 17),  # several reads
}
# Modification times whose fraction ends in zeros or is zero: rclone writes its nine digits all the same.
MTIMES_NS = {
    "abc": 1_700_000_000_120_000_000,
    "empty": 1_700_000_001_000_000_000,
    "dir/#hash": 1_700_000_002_000_000_007,
}


@pytest.fixture
def tree(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for name, mtime in MTIMES_NS.items():
        os.utime(tmp_path / name, ns=(mtime, mtime))
    (tmp_path / "dir" / "empty-dir").mkdir()
    return tmp_path


def _comparable(entry):
    if entry is None:
        return None
    return {key: entry.get(key) for key in ("Path", "Name", "Size", "IsDir", "ModTime", "Hashes")}


def _by_rclone(settings, call):
    settings.DLM_RCLONE_DIRECT = False
    try:
        return call()
    finally:
        settings.DLM_RCLONE_DIRECT = True


@pytest.fixture
def no_daemon(monkeypatch):
    """The daemon refuses every call: what is answered is answered in this process."""
    calls = []

    def refused(method, params, **kw):
        calls.append(method)
        raise rclone.RcloneError("the daemon was called")

    monkeypatch.setattr(rclone.DAEMON, "call", refused)
    return calls


@pytest.mark.parametrize("path", [*FILES, "dir", "dir/empty-dir", "missing", "missing/deeper", "//dir//with space.txt"])
@pytest.mark.parametrize("hashes", [ALL_HASHES, (), ("md5", "xxh3")])
def test_a_file_or_directory_is_described_as_rclone_describes_it(tree, settings, path, hashes):
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    expected = _by_rclone(settings, lambda: rclone.stat(remote, path, hashes=hashes))

    answer = direct.stat(remote, path, hashes)

    assert answer is not direct.UNANSWERED
    assert _comparable(answer) == _comparable(expected)


def test_the_daemon_is_not_called_for_a_plain_disk(tree, no_daemon):
    remote = {"name": "disk", "type": "local", "root_path": str(tree), "parameters": {}}
    assert rclone.stat(remote, "abc", hashes=("md5", "xxh3"))["Hashes"]["xxh3"] == "78af5f94892f3950"
    assert rclone.stat(remote, "missing") is None
    listed = rclone.list_files(remote, "dir", hashes=("md5",), only=["with space.txt", "#hash", "gone"])
    assert sorted(entry["Path"] for entry in listed) == ["#hash", "with space.txt"]
    assert no_daemon == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ("option", "abc"),  # any option may change what rclone sees (copy_links, links…)
        ("relative root", "abc"),
        ("root with ..", "abc"),
        ("off", "abc"),
        (None, "a\uff0eb"),  # names rclone's encoding of local names changes
        (None, "a\uff0fb"),
        (None, "\u201ba"),
        (None, "dir/../abc"),
        (None, "symlink"),
        (None, "dangling"),
        (None, "fifo"),
        (None, "abc/below-a-file"),
        (None, ""),
    ],
)
def test_what_is_not_certainly_the_same_is_left_to_rclone(tree, settings, change, path):
    (tree / "symlink").symlink_to(tree / "abc")
    (tree / "dangling").symlink_to(tree / "nowhere")
    os.mkfifo(tree / "fifo")
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    if change == "option":
        remote["parameters"] = {"copy_links": True}
    elif change == "relative root":
        remote["root_path"] = os.path.relpath(tree)
    elif change == "root with ..":
        remote["root_path"] = f"{tree}/dir/.."
    elif change == "off":
        settings.DLM_RCLONE_DIRECT = False

    assert direct.stat(remote, path, ("md5",)) is direct.UNANSWERED  # a fifo is not opened: no hang


def test_a_symlink_is_still_described_by_rclone(tree, settings):
    (tree / "symlink").symlink_to(tree / "abc")
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    expected = _by_rclone(settings, lambda: rclone.stat(remote, "symlink", hashes=("md5",)))
    assert rclone.stat(remote, "symlink", hashes=("md5",)) == expected  # rclone's own (odd) size of a link


def test_an_unknown_hash_or_a_large_file_to_hash_is_left_to_rclone(tree, settings):
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    assert direct.stat(remote, "abc", ("whirlpool",)) is direct.UNANSWERED
    settings.DLM_RCLONE_DIRECT_MAX_BYTES = 1024 * 1024
    assert direct.stat(remote, "dir/deep/big.bin", ("md5",)) is direct.UNANSWERED
    assert direct.stat(remote, "dir/deep/big.bin", ())["Size"] == len(FILES["dir/deep/big.bin"])  # no read
    answer = rclone.stat(remote, "dir/deep/big.bin", hashes=("md5",))
    assert answer["Hashes"]["md5"] == hashlib.md5(FILES["dir/deep/big.bin"]).hexdigest()


def test_an_unreadable_file_is_left_to_rclone(tree, monkeypatch):
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(direct.os, "open", denied)  # as for a file this user may not read
    assert direct.stat(remote, "abc", ("md5",)) is direct.UNANSWERED
    assert direct.stat(remote, "abc", ())["Size"] == 3  # its size needs no read


def test_a_file_replaced_while_it_is_read_is_left_to_rclone(tree, monkeypatch):
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    lstat = os.lstat

    def then_replaced(path, *args, **kwargs):
        info = lstat(path, *args, **kwargs)
        if str(path).endswith("/abc"):
            os.replace(tree / "empty", tree / "abc")
        return info

    monkeypatch.setattr(direct.os, "lstat", then_replaced)
    assert direct.stat(remote, "abc", ("md5",)) is direct.UNANSWERED


def test_listing_named_files_agrees_with_rclone_and_leaves_it_the_rest(tree, settings):
    (tree / "dir" / "symlink").symlink_to(tree / "abc")
    remote = {"name": "disk", "type": "local", "root_path": str(tree)}
    names = ["with space.txt", "#hash", "ünïcödé-名前.fits", "deep/big.bin", "empty-dir", "symlink", "gone", "deep"]

    expected = _by_rclone(settings, lambda: rclone.list_files(remote, "dir", hashes=ALL_HASHES, only=names))
    entries, left = direct.list_named(remote, "dir", names, ALL_HASHES)
    answer = rclone.list_files(remote, "dir", hashes=ALL_HASHES, only=names)

    assert sorted(left) == ["deep", "empty-dir", "symlink"]
    assert len(entries) == 4
    assert sorted(map(_comparable, answer), key=str) == sorted(map(_comparable, expected), key=str)
