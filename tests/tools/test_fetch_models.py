"""tools/fetch_models.py: registry models fetched with a fake network, checksums enforced."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from tests.tools._scripts import load_script

fm = load_script("fetch_models")


def _registry(tmp_path: Path, payload: bytes) -> Path:
    reg = tmp_path / "models.toml"
    sha = hashlib.sha256(payload).hexdigest()
    reg.write_text(
        'default = "m"\n[models.m]\nfile = "m.onnx"\nfamily = "yolox"\n'
        f'url = "https://raw.githubusercontent.com/o/r/abc/m.onnx"\nsha256 = "{sha}"\n'
    )
    return reg


def test_the_shipped_registry_parses_with_the_script() -> None:
    models = fm.load_models()
    assert {"yolox_nano", "nanodet_m_320", "fastestdet"} <= set(models)


def test_fetch_checks_sha256_and_writes_only_good_files(tmp_path: Path) -> None:
    payload = b"onnx bytes"
    reg = _registry(tmp_path, payload)
    calls: list[str] = []

    def good(url: str) -> bytes:
        calls.append(url)
        return payload

    out = io.StringIO()
    dest = tmp_path / "dest"
    assert fm.run([], dest, fetch=good, out=out, registry=reg) == 0
    assert (dest / "m.onnx").read_bytes() == payload and len(calls) == 1
    assert fm.run([], dest, fetch=good, out=out, registry=reg) == 0
    assert len(calls) == 1  # present with the right checksum: not fetched again
    assert fm.run([], dest, verify_only=True, out=out, registry=reg) == 0

    dest2 = tmp_path / "dest2"
    bad_out = io.StringIO()
    assert fm.run([], dest2, fetch=lambda url: b"tampered", out=bad_out, registry=reg) == 1
    assert "CHECKSUM MISMATCH" in bad_out.getvalue()
    assert not dest2.exists()  # nothing written, not even a .part file


def test_mirror_network_error_unknown_name_and_verify(tmp_path: Path) -> None:
    payload = b"model"
    reg = _registry(tmp_path, payload)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "m.onnx").write_bytes(payload)

    def offline(url: str) -> bytes:
        raise OSError("network is unreachable")

    out = io.StringIO()
    assert fm.run(["m"], tmp_path / "d", mirror=mirror, fetch=offline, out=out, registry=reg) == 0
    assert (tmp_path / "d" / "m.onnx").read_bytes() == payload
    out = io.StringIO()
    assert fm.run(["m"], tmp_path / "e", fetch=offline, out=out, registry=reg) == 1
    assert "network is unreachable" in out.getvalue()
    assert fm.run(["nope"], tmp_path / "e", out=io.StringIO(), registry=reg) == 2
    out = io.StringIO()
    assert fm.run([], tmp_path / "e", verify_only=True, out=out, registry=reg) == 1
    assert "missing" in out.getvalue()


@pytest.mark.data
def test_shared_models_match_the_registry_checksums(data_dir: Path, tmp_path: Path) -> None:
    out = io.StringIO()

    def no_network(url: str) -> bytes:
        raise AssertionError(f"must not download {url}: the shared folder has it")

    code = fm.run([], tmp_path / "cache", fetch=no_network, data_dir=data_dir, out=out)
    assert code == 0, out.getvalue()
    assert out.getvalue().count("ADAS_DATA_DIR") == 3
