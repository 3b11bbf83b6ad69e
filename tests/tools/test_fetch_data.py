"""tools/fetch_data.py: the manifest, the real data folder, and downloads with a fake fetch."""

from __future__ import annotations

import hashlib
import io
import json
import re
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from tests.tools._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tools" / "data_manifest.json"
RAW = "https://raw.githubusercontent.com/"


fd = load_script("fetch_data")


# --- (a) the shipped manifest -------------------------------------------------------------


def _raw_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def test_manifest_entries_are_well_formed() -> None:
    raw = _raw_manifest()
    files = raw["files"]
    assert files, "manifest lists no files"
    for f in files:
        assert isinstance(f["path"], str) and f["path"] and not f["path"].startswith("/")
        assert ".." not in f["path"].split("/")
        assert re.fullmatch(r"[0-9a-f]{64}", f["sha256"]), f["path"]
        assert isinstance(f["size"], int) and f["size"] > 0, f["path"]
        assert f["url"].startswith(RAW), f["path"]
        assert isinstance(f["licence"], str) and f["licence"].strip(), f["path"]
        assert isinstance(f["path_verified"], bool), f["path"]
        assert f["group"] in raw["groups"], f["path"]
        # the URL is owner/repo/commit/upstream_path, as the fields say
        assert f["url"] == f"{RAW}{f['repository']}/{f['commit']}/{f['upstream_path']}"
    paths = [f["path"] for f in files]
    assert len(paths) == len(set(paths)), "a path is listed twice"
    assert "README.md" not in paths
    for name, group in raw["groups"].items():
        assert group["licence"].strip(), name
    # the script's own validation accepts it too
    manifest = fd.load_manifest(MANIFEST)
    assert len(manifest.entries) == len(files)


def test_manifest_groups_used_in_docs_exist() -> None:
    groups = set(_raw_manifest()["groups"])
    assert {"models", "kitti-tracking", "kitti-object"} <= groups


# --- (b) the real data folder -------------------------------------------------------------


@pytest.mark.data
def test_real_data_folder_matches_manifest(data_dir: Path) -> None:
    manifest = fd.load_manifest(MANIFEST)
    out = io.StringIO()
    status = fd.run(data_dir, manifest.entries, verify_only=True, fetch=_no_network, out=out)
    assert status == 0, out.getvalue()
    bad = {e.path: fd.check_file(data_dir, e) for e in manifest.entries}
    assert {p: s for p, s in bad.items() if s != "ok"} == {}
    assert fd.unlisted_files(data_dir, manifest) == []


# --- (c) downloading with a fake fetch ------------------------------------------------------


def _no_network(url: str) -> bytes:
    raise AssertionError(f"unexpected fetch of {url}")


class FakeFetch:
    """Serves bytes per URL and records which URLs were asked for."""

    def __init__(self, payloads: dict[str, bytes | Exception]) -> None:
        self.payloads = payloads
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        payload = self.payloads[url]
        if isinstance(payload, Exception):
            raise payload
        return payload


CONTENT = {
    "models/a.onnx": b"model-a bytes",
    "kitti/tracking/label_02/0001.txt": b"0 1 Car 0 0 ...\n",
    "kitti/tracking/calib/0001.txt": b"P2: 721.5 0 609.6 ...\n",
}
GROUP_OF = {
    "models/a.onnx": "models",
    "kitti/tracking/label_02/0001.txt": "kitti-tracking",
    "kitti/tracking/calib/0001.txt": "kitti-tracking",
}


def _url(path: str) -> str:
    return f"{RAW}owner/repo/abc1234/{path}"


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    raw = {
        "groups": {
            "models": {"description": "models", "licence": "Apache-2.0"},
            "kitti-tracking": {"description": "tracking", "licence": "CC-BY-NC-SA-3.0"},
        },
        "files": [
            {
                "path": path,
                "group": GROUP_OF[path],
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "url": _url(path),
                "licence": "test",
                "path_verified": True,
            }
            for path, data in CONTENT.items()
        ],
    }
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(raw))
    return p


def _good_fetch() -> FakeFetch:
    return FakeFetch({_url(p): d for p, d in CONTENT.items()})


def test_downloads_land_and_verify(
    tmp_path: Path, manifest_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "data"
    fetch = _good_fetch()
    assert fd.main(["--dest", str(dest), "--manifest", str(manifest_file)], fetch=fetch) == 0
    for path, data in CONTENT.items():
        assert (dest / path).read_bytes() == data
    assert sorted(fetch.calls) == sorted(_url(p) for p in CONTENT)
    assert not list(dest.rglob("*.part"))
    out = capsys.readouterr().out
    assert "models: 1/1 ok (0 already present, 1 downloaded), 0 failed" in out
    assert "kitti-tracking: 2/2 ok (0 already present, 2 downloaded), 0 failed" in out
    # and the folder now passes --verify-only
    verify = ["--dest", str(dest), "--manifest", str(manifest_file), "--verify-only"]
    assert fd.main(verify, fetch=_no_network) == 0


def test_checksum_mismatch_removes_file_and_fails(
    tmp_path: Path, manifest_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "data"
    fetch = _good_fetch()
    bad = "kitti/tracking/calib/0001.txt"
    fetch.payloads[_url(bad)] = b"tampered"
    status = fd.main(["--dest", str(dest), "--manifest", str(manifest_file)], fetch=fetch)
    assert status != 0
    assert not (dest / bad).exists()
    assert not (dest / (bad + ".part")).exists()
    assert (dest / "models/a.onnx").read_bytes() == CONTENT["models/a.onnx"]
    out = capsys.readouterr().out
    assert f"FAILED {bad}" in out and "checksum mismatch" in out
    assert "kitti-tracking: 1/2 ok (0 already present, 1 downloaded), 1 failed" in out


def test_existing_good_files_are_not_refetched(tmp_path: Path, manifest_file: Path) -> None:
    dest = tmp_path / "data"
    present = "kitti/tracking/label_02/0001.txt"
    (dest / present).parent.mkdir(parents=True)
    (dest / present).write_bytes(CONTENT[present])
    fetch = _good_fetch()
    assert fd.main(["--dest", str(dest), "--manifest", str(manifest_file)], fetch=fetch) == 0
    assert _url(present) not in fetch.calls
    assert len(fetch.calls) == len(CONTENT) - 1


def test_existing_corrupt_file_is_replaced(tmp_path: Path, manifest_file: Path) -> None:
    dest = tmp_path / "data"
    path = "models/a.onnx"
    (dest / path).parent.mkdir(parents=True)
    (dest / path).write_bytes(b"old and wrong")
    fetch = _good_fetch()
    assert fd.main(["--dest", str(dest), "--manifest", str(manifest_file)], fetch=fetch) == 0
    assert (dest / path).read_bytes() == CONTENT[path]


def test_network_error_is_reported(
    tmp_path: Path, manifest_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch = _good_fetch()
    fetch.payloads[_url("models/a.onnx")] = urllib.error.URLError("no route to host")
    args = ["--dest", str(tmp_path / "d"), "--manifest", str(manifest_file), "--only", "models"]
    assert fd.main(args, fetch=fetch) == 1
    out = capsys.readouterr().out
    assert "download failed" in out and "no route to host" in out
    assert fetch.calls == [_url("models/a.onnx")]  # --only kept the other group out


def test_verify_only_lists_missing_and_mismatching(
    tmp_path: Path, manifest_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "data"
    (dest / "models").mkdir(parents=True)
    (dest / "models/a.onnx").write_bytes(b"wrong")
    label = "kitti/tracking/label_02/0001.txt"
    (dest / label).parent.mkdir(parents=True)
    (dest / label).write_bytes(CONTENT[label])
    args = ["--dest", str(dest), "--manifest", str(manifest_file), "--verify-only"]
    assert fd.main(args, fetch=_no_network) == 1
    out = capsys.readouterr().out
    assert "mismatch: models/a.onnx" in out
    assert "missing: kitti/tracking/calib/0001.txt" in out
    assert label not in out
    assert (dest / "models/a.onnx").read_bytes() == b"wrong"  # verify-only changes nothing


def test_unknown_group_is_a_usage_error(tmp_path: Path, manifest_file: Path) -> None:
    args = ["--dest", str(tmp_path), "--manifest", str(manifest_file), "--only", "nope"]
    with pytest.raises(SystemExit) as exc:
        fd.main(args, fetch=_no_network)
    assert exc.value.code == 2


def test_manifest_rejects_escaping_paths() -> None:
    raw = {
        "groups": {"g": {"description": "d", "licence": "MIT"}},
        "files": [
            {
                "path": "../outside.txt",
                "group": "g",
                "size": 1,
                "sha256": "0" * 64,
                "url": RAW + "o/r/c/x",
                "licence": "MIT",
                "path_verified": True,
            }
        ],
    }
    with pytest.raises(fd.ManifestError, match="relative"):
        fd.parse_manifest(raw)


def test_help_starts_with_synopsis(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        fd.main(["--help"], fetch=_no_network)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("SYNOPSIS\n  python tools/fetch_data.py --dest ")
    assert "kitti-tracking" in out  # groups are listed from the manifest
