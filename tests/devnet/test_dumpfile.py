"""Dump files (node.devnet.dumpfile): a malformed or foreign file is refused with a precise error."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from node.devnet.dumpfile import MANIFEST, check_dump, check_members, validate_manifest
from node.devnet.errors import DumpFileError

NAMES = ["l1", "sequencer", "settler", "executor-0", "challenger"]


def manifest(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "rollup-devnet-dump",
        "version": 1,
        "created": 1.0,
        "settings": {"executors": 1},
        "processes": [{"name": n, "role": n.split("-")[0]} for n in NAMES],
        "heads": {"l1": 5},
    }
    doc.update(changes)
    return doc


def write_tar(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


def good_members(doc: dict[str, Any] | None = None) -> dict[str, bytes]:
    members = {MANIFEST: json.dumps(doc or manifest()).encode()}
    members.update({f"data/{name}/CURRENT": b"x" for name in NAMES})
    return members


def test_a_well_formed_dump_passes(tmp_path: Path) -> None:
    assert check_dump(write_tar(tmp_path / "d.tar.gz", good_members()))["heads"] == {"l1": 5}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"format": "anvil-state"}, "is not a devnet dump"),
        ({"version": 2}, "version 2 dump"),
        ({"settings": []}, "needs a settings object"),
        ({"processes": []}, "non-empty processes list"),
        ({"settings": {"executors": 1, "base_port": 8545}}, "port-independent"),
        ({"settings": {"executors": 99}}, "settings are invalid"),
        ({"settings": {"executors": 2}}, "but its settings make"),
    ],
)
def test_bad_manifests_are_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(DumpFileError, match=why):
        validate_manifest(manifest(**changes), "f")


@pytest.mark.parametrize(
    ("member", "kind", "why"),
    [
        ("/etc/passwd", "file", "unexpected member"),
        ("data/../../x", "file", "unexpected member"),
        ("config/l1.toml", "file", "unexpected member"),
        ("data/executor-7/CURRENT", "file", "unexpected member"),
        ("data/l1/link", "other", "is a link or device"),
    ],
)
def test_members_outside_the_data_dirs_are_refused(member: str, kind: str, why: str) -> None:
    members = [(f"data/{name}/CURRENT", "file") for name in NAMES] + [(member, kind)]
    with pytest.raises(DumpFileError, match=why):
        check_members("f", members, manifest())


def test_a_process_without_data_is_refused() -> None:
    with pytest.raises(DumpFileError, match="no data for challenger, settler"):
        check_members(
            "f",
            [(f"data/{name}/x", "file") for name in NAMES[:3] if name != "settler"] + [("data/executor-0/x", "file")],
            manifest(),
        )


def test_files_that_are_not_dumps(tmp_path: Path) -> None:
    with pytest.raises(DumpFileError, match="no such file"):
        check_dump(tmp_path / "absent.tar.gz")
    with pytest.raises(DumpFileError, match="is a directory"):
        check_dump(tmp_path)
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(DumpFileError, match="not a readable tar.gz file"):
        check_dump(tmp_path / "plain.txt")
    members = good_members()
    del members[MANIFEST]
    with pytest.raises(DumpFileError, match=f"it has no {MANIFEST}"):
        check_dump(write_tar(tmp_path / "nomanifest.tar.gz", members))
    with pytest.raises(DumpFileError, match="is not JSON"):
        check_dump(write_tar(tmp_path / "badjson.tar.gz", {**good_members(), MANIFEST: b"{nope"}))
    with pytest.raises(DumpFileError, match="is a link or device"):
        check_dump(write_tar(tmp_path / "link.tar.gz", good_members(), symlink="data/l1/evil"))
