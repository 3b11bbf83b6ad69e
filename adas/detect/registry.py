"""The model registry (``data/models.toml``): known detectors by name, and finding their files.

A model is named either by its registry name (``yolox_nano``) or by a path to an ``.onnx``
file. A path whose sha256 (or, failing that, file name) matches a registry entry gets that
entry's preprocessing and decoder; any other file gets a spec guessed from its outputs
(:func:`adas.detect.heads.identify_family`) with the most common export conventions, and a
warning, because a wrong normalisation silently costs accuracy.

Files of registry models are searched for in these folders, first hit wins (:func:`model_dirs`):

1. ``$ADAS_MODEL_DIR``, where set (also ``tools/fetch_models.py``'s default destination);
2. ``$ADAS_DATA_DIR/models``, where set (the shared data folder of the Makefile);
3. ``./build/data/models`` and 4. ``../shared/data/models``, relative to the current folder:
   where ``make demo`` fetches the data (the Makefile's ``DEMO_DATA``), so the README's
   commands find the model without ``ADAS_DATA_DIR`` set in the shell;
5. ``~/.cache/adas/models``, the user cache (``tools/fetch_models.py`` without ``--dest``).

``python tools/fetch_data.py --only models --dest DIR`` or ``python tools/fetch_models.py``
fetches the files; a model that is in none of the folders raises an error naming each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from adas.errors import ConfigError, ModelFormatError

log = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).resolve().parents[2] / "data" / "models.toml"
CLASS_SETS = ("coco80",)


@dataclass(frozen=True)
class ModelSpec:
    """How to feed a model and read its outputs (one ``[models.NAME]`` table)."""

    name: str
    file: str
    family: str
    channel_order: str = "bgr"
    resize: str = "letterbox"
    align: str = "center"
    pad_value: int = 114
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    classes: str | tuple[str, ...] = "coco80"
    min_score: float = 0.0
    url: str = ""
    sha256: str = ""
    source: str = ""
    licence: str = ""
    # Where each value came from (key -> "registry ...", "card ...", "ONNX metadata ...",
    # "family default ..."): what `adas models inspect` shows. Not part of the spec's identity.
    origin: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        cards = [v for v in self.origin.values() if v.startswith("card ")]
        where = cards[0] if cards else f"model registry entry [{self.name}]"
        choices = {
            "channel_order": ("bgr", "rgb"),
            "resize": ("letterbox", "stretch"),
            "align": ("center", "top-left"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                msg = f"{where}: {key} = {getattr(self, key)!r}; allowed: {list(allowed)}"
                raise ConfigError(msg)
        if isinstance(self.classes, str):
            if self.classes not in CLASS_SETS:
                msg = (
                    f"{where}: classes = {self.classes!r}; allowed: {list(CLASS_SETS)} or the "
                    "list of the model's class names in output order"
                )
                raise ConfigError(msg)
        elif not self.classes or not all(isinstance(c, str) for c in self.classes):
            msg = f"{where}: classes must be a class set name or a non-empty list of names"
            raise ConfigError(msg)
        if not 0 <= self.pad_value <= 255:
            msg = f"{where}: pad_value = {self.pad_value} must be in [0, 255]"
            raise ConfigError(msg)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            msg = f"{where}: mean and std need 3 values each, std > 0 (got {self.mean}, {self.std})"
            raise ConfigError(msg)
        if not 0.0 <= self.min_score <= 1.0:
            msg = f"{where}: min_score = {self.min_score} must be in [0, 1]"
            raise ConfigError(msg)
        if self.sha256 and len(self.sha256) != 64:
            msg = f"{where}: sha256 must be 64 hex characters"
            raise ConfigError(msg)


@dataclass(frozen=True)
class Registry:
    default: str
    models: dict[str, ModelSpec]

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            msg = f"unknown model {name!r}; registry models: {sorted(self.models)} (or a path)"
            raise ConfigError(msg) from None


@lru_cache(maxsize=4)
def load_registry(path: Path = REGISTRY_PATH) -> Registry:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"cannot read the model registry {path}: {exc}"
        raise ConfigError(msg) from exc
    fields = {f.name for f in dataclasses.fields(ModelSpec)} - {"name"}
    models: dict[str, ModelSpec] = {}
    for name, table in raw.get("models", {}).items():
        unknown = sorted(set(table) - fields)
        if unknown:
            msg = f"{path}: [models.{name}] has unknown keys {unknown}; allowed {sorted(fields)}"
            raise ConfigError(msg)
        kwargs: dict[str, Any] = dict(table)
        for key in ("mean", "std"):
            if key in kwargs:
                kwargs[key] = tuple(float(v) for v in kwargs[key])
        if isinstance(kwargs.get("classes"), list):
            kwargs["classes"] = tuple(str(c) for c in kwargs["classes"])
        origin = {key: f"registry {path.name} [models.{name}]" for key in table}
        models[name] = ModelSpec(name=name, origin=origin, **kwargs)
    default = raw.get("default", "")
    if default not in models:
        msg = f"{path}: default = {default!r} is not one of the models {sorted(models)}"
        raise ConfigError(msg)
    return Registry(default=default, models=models)


def model_dirs() -> list[Path]:
    """Folders searched for registry model files, in order (the module docstring says why).

    Read at each call: the environment and the current folder may change between calls.
    """
    dirs = []
    model_dir = os.environ.get("ADAS_MODEL_DIR")
    if model_dir:
        dirs.append(Path(model_dir))
    data = os.environ.get("ADAS_DATA_DIR")
    if data:
        dirs.append(Path(data) / "models")
    dirs += [Path("build", "data", "models"), Path("..", "shared", "data", "models")]
    dirs.append(Path.home() / ".cache" / "adas" / "models")
    unique: list[Path] = []
    for d in dirs:  # ADAS_DATA_DIR=build/data names a folder twice: search it once
        if all(os.path.abspath(d) != os.path.abspath(u) for u in unique):
            unique.append(d)
    return unique


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def resolve_model(
    model: str | Path | None, registry: Registry | None = None
) -> tuple[Path, ModelSpec | None]:
    """The file and registry spec of ``model`` (a registry name, a path, or None = default).

    Returns ``(path, None)`` for a file the registry does not know. Raises ModelFormatError
    when the file cannot be found.
    """
    reg = registry or load_registry()
    if model is None or (isinstance(model, str) and model in reg.models):
        spec = reg.get(reg.default if model is None else str(model))
        dirs = model_dirs()
        for d in dirs:
            candidate = d / spec.file
            if candidate.is_file():
                return candidate, spec
        where = ", ".join(os.path.abspath(d) for d in dirs)
        msg = (
            f"model {spec.name!r}: file {spec.file} not found; looked in {where}. Set "
            "ADAS_DATA_DIR to the data folder that holds models/ (the Makefile uses "
            "../shared/data or build/data), or fetch the models with "
            "'python tools/fetch_data.py --only models --dest build/data' (or "
            f"'python tools/fetch_models.py {spec.name}'), or pass --model PATH"
        )
        raise ModelFormatError(msg)
    path = Path(model)
    if not path.is_file():
        msg = f"model file {path} not found (known model names: {sorted(reg.models)})"
        raise ModelFormatError(msg)
    digest = sha256_of(path)
    for spec in reg.models.values():
        if spec.sha256 == digest:
            return path, spec
    for spec in reg.models.values():
        if spec.file == path.name:
            log.warning(
                "%s: named like registry model %r but its sha256 differs; using that entry's "
                "preprocessing and decoder",
                path,
                spec.name,
            )
            return path, spec
    return path, None
