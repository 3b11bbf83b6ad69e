#!/usr/bin/env python3
"""Download the detector models of the registry (``data/models.toml``) and check their sha256.

    python tools/fetch_models.py                      # every registry model
    python tools/fetch_models.py yolox_nano --dest ~/.cache/adas/models
    python tools/fetch_models.py --mirror /mnt/models # copy from a local mirror folder, no network
    python tools/fetch_models.py --verify-only        # check what is there, download nothing

Each model's file comes from its official URL (pinned to a commit) or, with ``--mirror``, from
a folder holding files of the same names. A file is written only after its sha256 matched
(staged as ``NAME.part``); a present file with the right checksum is left alone. If
``$ADAS_DATA_DIR/models`` already holds a model with the right checksum, it is reported and
not copied: ``adas`` looks there first. The default destination is ``$ADAS_MODEL_DIR`` or
``~/.cache/adas/models``, where ``adas`` looks next.

Standard library only. The download function is a parameter of :func:`run`
(``fetch(url) -> bytes``), which is how the tests run it without a network.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

REGISTRY = Path(__file__).resolve().parents[1] / "data" / "models.toml"
TIMEOUT_S = 120.0
Fetch = Callable[[str], bytes]


def urllib_fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "adas-fetch-models/1"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        data: bytes = response.read()
    return data


def default_dest() -> Path:
    env = os.environ.get("ADAS_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "adas" / "models"


def load_models(path: Path = REGISTRY) -> dict[str, dict[str, str]]:
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    models = raw.get("models", {})
    for name, m in models.items():
        for key in ("file", "url", "sha256"):
            if not isinstance(m.get(key), str) or not m[key]:
                raise ValueError(f"{path}: [models.{name}] needs a non-empty {key!r}")
    return {name: dict(m) for name, m in models.items()}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def run(
    names: Sequence[str],
    dest: Path,
    *,
    mirror: Path | None = None,
    verify_only: bool = False,
    fetch: Fetch = urllib_fetch,
    data_dir: Path | None = None,
    out: TextIO = sys.stdout,
    registry: Path = REGISTRY,
) -> int:
    """Fetch (or verify) the named models (all when empty); 0 when every one is in place."""
    models = load_models(registry)
    unknown = sorted(set(names) - set(models))
    if unknown:
        print(f"unknown model(s) {unknown}; registry models: {sorted(models)}", file=out)
        return 2
    failed = 0
    for name in names or sorted(models):
        m = models[name]
        want = m["sha256"].lower()
        target = dest / m["file"]
        if data_dir is not None:
            shared = data_dir / "models" / m["file"]
            if shared.is_file() and sha256_file(shared) == want:
                print(f"{name}: ok in {shared.parent} (ADAS_DATA_DIR)", file=out)
                continue
        if target.is_file():
            if sha256_file(target) == want:
                print(f"{name}: ok {target}", file=out)
                continue
            if verify_only:
                print(f"{name}: CHECKSUM MISMATCH {target}", file=out)
                failed += 1
                continue
        elif verify_only:
            print(f"{name}: missing {target}", file=out)
            failed += 1
            continue
        source = str(mirror / m["file"]) if mirror is not None else m["url"]
        try:
            data = (mirror / m["file"]).read_bytes() if mirror is not None else fetch(m["url"])
        except OSError as exc:
            print(f"{name}: FAILED to get {source}: {exc}", file=out)
            failed += 1
            continue
        got = sha256_bytes(data)
        if got != want:
            print(
                f"{name}: CHECKSUM MISMATCH from {source}: sha256 {got}, expected {want}; "
                "nothing written",
                file=out,
            )
            failed += 1
            continue
        dest.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(data)
        part.replace(target)
        print(f"{name}: fetched {len(data)} bytes -> {target}", file=out)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None, fetch: Fetch = urllib_fetch) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:6]) if __doc__ else None,
    )
    p.add_argument("models", nargs="*", help="registry names (default: all)")
    p.add_argument("--dest", type=Path, default=None, help="default $ADAS_MODEL_DIR or ~/.cache")
    p.add_argument("--mirror", type=Path, default=None, help="local folder to copy from")
    p.add_argument("--verify-only", action="store_true", help="check, download nothing")
    args = p.parse_args(argv)
    if args.mirror is not None and not args.mirror.is_dir():
        print(f"--mirror {args.mirror} is not a folder", file=sys.stderr)
        return 2
    data = os.environ.get("ADAS_DATA_DIR")
    return run(
        args.models,
        args.dest or default_dest(),
        mirror=args.mirror,
        verify_only=args.verify_only,
        fetch=fetch,
        data_dir=Path(data) if data else None,
    )


if __name__ == "__main__":
    sys.exit(main())
