#!/usr/bin/env python3
"""Download (or check) the benchmark and test data this project reads from ADAS_DATA_DIR.

Nothing of that data is committed to the project (licences: KITTI is CC BY-NC-SA 3.0,
evaluation only). Instead ``tools/data_manifest.json`` lists every file of the shared data
folder with its upstream URL (a raw.githubusercontent.com address pinned to a commit), its
size, its sha256 and its licence. This script reads that manifest and

* downloads the files missing from ``--dest`` and checks each against its sha256; a file
  whose checksum does not match is deleted and reported, and the exit status is non-zero;
* leaves files that are already present with the right checksum alone (nothing re-fetched);
* with ``--verify-only`` downloads nothing and only checks an existing folder (exit 1 and a
  list of the missing or mismatching files).

Files are grouped (``models``, ``kitti-tracking``, ...); ``--only`` picks groups and one
summary line is printed per group. Manifest entries with ``"path_verified": false`` have an
upstream path that was inferred, not confirmed; if such a URL fails, fix it in the manifest.

Standard library only, so it runs before the project's virtualenv exists. The download
function is a parameter of :func:`run` and :func:`main` (``fetch(url) -> bytes``), which is
how the tests exercise it without a network.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

MANIFEST_PATH = Path(__file__).resolve().with_name("data_manifest.json")
URL_PREFIX = "https://raw.githubusercontent.com/"
DOWNLOAD_TIMEOUT_S = 60.0
PARTIAL_SUFFIX = ".part"

Fetch = Callable[[str], bytes]

SYNOPSIS = """\
SYNOPSIS
  python tools/fetch_data.py --dest ../shared/data --only kitti-tracking,models
  python tools/fetch_data.py --dest ../shared/data --verify-only

"""


class ManifestError(ValueError):
    """The manifest file is missing, not JSON, or an entry is malformed."""


@dataclass(frozen=True)
class Entry:
    """One file of the data folder: where it goes, where it comes from, what it must hash to."""

    path: str
    group: str
    size: int
    sha256: str
    url: str
    licence: str
    path_verified: bool


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    licence: str


@dataclass(frozen=True)
class Manifest:
    groups: dict[str, Group]
    entries: tuple[Entry, ...]

    def select(self, only: Iterable[str] | None) -> list[Entry]:
        """The entries of the named groups (all when ``only`` is None), in manifest order."""
        if only is None:
            return list(self.entries)
        wanted = set(only)
        unknown = sorted(wanted - set(self.groups))
        if unknown:
            raise ManifestError(
                f"unknown group(s) {', '.join(unknown)}; known groups: {', '.join(self.groups)}"
            )
        return [e for e in self.entries if e.group in wanted]


def _require(raw: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{where}: key {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _check_relative(path: str, where: str) -> None:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ManifestError(f"{where}: path {path!r} must be relative, '/'-separated, without '..'")


def parse_manifest(raw: Any) -> Manifest:
    """Validate the decoded JSON of a manifest and build a :class:`Manifest`."""
    if not isinstance(raw, dict):
        raise ManifestError("manifest: top level must be a JSON object")
    raw_groups = _require(raw, "groups", dict, "manifest")
    groups: dict[str, Group] = {}
    for name, g in raw_groups.items():
        if not isinstance(g, dict):
            raise ManifestError(f"group {name!r}: must be an object")
        groups[name] = Group(
            name=name,
            description=_require(g, "description", str, f"group {name!r}"),
            licence=_require(g, "licence", str, f"group {name!r}"),
        )
    entries: list[Entry] = []
    seen: set[str] = set()
    for i, f in enumerate(_require(raw, "files", list, "manifest")):
        where = f"files[{i}]"
        if not isinstance(f, dict):
            raise ManifestError(f"{where}: must be an object")
        entry = Entry(
            path=_require(f, "path", str, where),
            group=_require(f, "group", str, where),
            size=_require(f, "size", int, where),
            sha256=_require(f, "sha256", str, where).lower(),
            url=_require(f, "url", str, where),
            licence=_require(f, "licence", str, where),
            path_verified=_require(f, "path_verified", bool, where),
        )
        where = f"{where} ({entry.path})"
        _check_relative(entry.path, where)
        if entry.path in seen:
            raise ManifestError(f"{where}: path listed twice")
        seen.add(entry.path)
        if entry.group not in groups:
            raise ManifestError(f"{where}: group {entry.group!r} is not in 'groups'")
        if len(entry.sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.sha256):
            raise ManifestError(f"{where}: sha256 must be 64 hex characters")
        if entry.size <= 0:
            raise ManifestError(f"{where}: size must be > 0, got {entry.size}")
        if not entry.url.startswith(URL_PREFIX):
            raise ManifestError(f"{where}: url must start with {URL_PREFIX}")
        entries.append(entry)
    return Manifest(groups=groups, entries=tuple(entries))


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {path} is not valid JSON: {exc}") from exc
    return parse_manifest(raw)


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_file(dest: Path, entry: Entry) -> str:
    """``"ok"``, ``"missing"`` or ``"mismatch"`` for the entry's file under ``dest``."""
    target = dest / entry.path
    if not target.is_file():
        return "missing"
    if target.stat().st_size != entry.size or sha256_of(target) != entry.sha256:
        return "mismatch"
    return "ok"


def unlisted_files(dest: Path, manifest: Manifest) -> list[str]:
    """Files under ``dest`` (other than README.md) that the manifest does not list."""
    listed = {e.path for e in manifest.entries}
    found = (
        p.relative_to(dest).as_posix()
        for p in dest.rglob("*")
        if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX)
    )
    return sorted(rel for rel in found if rel != "README.md" and rel not in listed)


def urllib_fetch(url: str) -> bytes:
    """Download ``url`` (the real ``fetch``); raises ``OSError`` (``URLError``) on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "adas-fetch-data/1"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        data: bytes = response.read()
    return data


def download(dest: Path, entry: Entry, fetch: Fetch) -> str | None:
    """Fetch one entry into ``dest``; None on success, else why it failed.

    The bytes are staged in ``<name>.part`` and moved into place only when the sha256
    matches, so a failed or corrupt download never leaves a file that looks complete.
    """
    target = dest / entry.path
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    try:
        data = fetch(entry.url)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
        return f"download failed: {exc}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        partial.unlink()
        return (
            f"checksum mismatch: got sha256 {digest} ({len(data)} bytes), expected "
            f"{entry.sha256} ({entry.size} bytes); partial file deleted"
        )
    partial.replace(target)
    return None


def run(
    dest: Path,
    entries: Sequence[Entry],
    *,
    fetch: Fetch = urllib_fetch,
    verify_only: bool = False,
    out: TextIO | None = None,
) -> int:
    """Download or verify ``entries`` under ``dest``; returns the exit status (0 all good)."""
    stream = out if out is not None else sys.stdout
    problems: list[str] = []
    per_group: dict[str, dict[str, int]] = {}
    for entry in entries:
        counts = per_group.setdefault(
            entry.group, {"present": 0, "downloaded": 0, "missing": 0, "mismatch": 0, "failed": 0}
        )
        status = check_file(dest, entry)
        if status == "ok":
            counts["present"] += 1
            continue
        if verify_only:
            counts[status] += 1
            problems.append(f"{status}: {entry.path}")
            continue
        why = download(dest, entry, fetch)
        if why is None:
            counts["downloaded"] += 1
        else:
            counts["failed"] += 1
            hint = "" if entry.path_verified else " (upstream path not verified; check the URL)"
            problems.append(f"FAILED {entry.path} <- {entry.url}: {why}{hint}")
    for line in problems:
        print(line, file=stream)
    for group, c in per_group.items():
        total = sum(c.values())
        if verify_only:
            detail = f"{c['present']}/{total} ok, {c['missing']} missing, {c['mismatch']} mismatch"
        else:
            detail = (
                f"{c['present'] + c['downloaded']}/{total} ok "
                f"({c['present']} already present, {c['downloaded']} downloaded), "
                f"{c['failed']} failed"
            )
        print(f"{group}: {detail}", file=stream)
    if problems:
        print(f"{len(problems)} file(s) not in order under {dest}", file=stream)
        return 1
    return 0


class _HelpWithSynopsis(argparse.ArgumentParser):
    def format_help(self) -> str:
        return SYNOPSIS + super().format_help()


def build_parser(manifest: Manifest | None) -> argparse.ArgumentParser:
    groups = (
        "\n".join(
            f"  {g.name:<15} {g.description}\n  {'':<15} licence: {g.licence}"
            for g in manifest.groups.values()
        )
        if manifest is not None
        else "  (manifest could not be read)"
    )
    parser = _HelpWithSynopsis(
        prog="python tools/fetch_data.py",
        description=(
            "Download the project's benchmark/test data from its official upstream URLs and\n"
            "verify every file against the sha256 in tools/data_manifest.json. Files already\n"
            "present with the right checksum are not fetched again."
        ),
        epilog=f"groups:\n{groups}\n\nexit status: 0 all files in order, 1 otherwise, 2 usage.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dest",
        type=Path,
        required=True,
        help="data folder to fill or check (what ADAS_DATA_DIR will name)",
    )
    parser.add_argument(
        "--only",
        metavar="GROUP[,GROUP...]",
        help="comma-separated groups to handle (default: all)",
    )
    parser.add_argument(
        "--verify-only",
        action="store_true",
        help="download nothing; check the folder and list missing or mismatching files",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=MANIFEST_PATH,
        help="manifest to read (default: data_manifest.json next to this script)",
    )
    return parser


def main(argv: Sequence[str] | None = None, fetch: Fetch = urllib_fetch) -> int:
    try:
        default_manifest: Manifest | None = load_manifest(MANIFEST_PATH)
    except ManifestError:
        default_manifest = None
    parser = build_parser(default_manifest)
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.manifest)
        only = None
        if args.only is not None:
            only = [g.strip() for g in args.only.split(",") if g.strip()]
        entries = manifest.select(only)
    except ManifestError as exc:
        parser.error(str(exc))
    dest: Path = args.dest
    if args.verify_only and not dest.is_dir():
        print(f"{dest} is not a directory; nothing to verify", file=sys.stderr)
        return 1
    status = run(dest, entries, fetch=fetch, verify_only=args.verify_only)
    if args.verify_only and only is None:
        extra = unlisted_files(dest, manifest)
        if extra:
            print(f"note: {len(extra)} file(s) not in the manifest: {', '.join(extra)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
