"""Model cards: how to feed a model and read its outputs, for any ONNX detector a user brings.

A card is a TOML file with the keys of a model registry entry (``data/models.toml``)::

    family = "nanodet"            # output decoder: adas.detect.heads.DECODERS
    channel_order = "bgr"         # "bgr" or "rgb"
    resize = "stretch"            # "letterbox" or "stretch"
    align = "top-left"            # letterbox placement: "center" or "top-left"
    pad_value = 0                 # letterbox fill, 0-255
    mean = [103.53, 116.28, 123.675]
    std = [57.375, 57.12, 58.395] # tensor = (pixel - mean) / std, per channel in channel_order
    classes = "coco80"            # or the model's class names in output order
    min_score = 0.0               # floor under the config's per-class thresholds
    source = "who trained / exported it"
    licence = "..."
    input_size = [640, 640]       # [H, W]: only for a model exported with a dynamic size

It sits next to the model (``model.onnx`` -> ``model.toml``) or is named with
``--model-card``. Every key is optional. What a model gets, key by key, first hit wins:

1. the card;
2. the registry entry, for a file the registry knows (by sha256, or by file name);
3. the ONNX file's own metadata (``metadata_props``): Ultralytics exports write ``names``
   (the class names), ``imgsz``, ``stride`` and ``task``; the names are used, a ``task`` other
   than ``detect`` is refused (a segmentation or pose head is not a detector's layout);
4. the family's standard preprocessing (:data:`adas.detect.heads.preprocessing.
   FAMILY_PREPROCESSING`), the family told from the output shapes
   (:func:`adas.detect.heads.identify_family`) unless the card or registry names it.

Class names map to ADAS classes by name (:func:`adas.detect.classes.names_to_adas`), so a
KITTI- or BDD100K-trained model works as well as a COCO one. :attr:`ModelSpec.origin` records
where each value came from (``adas models inspect`` prints it).
"""

from __future__ import annotations

import ast
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adas.detect.heads import DECODERS, identify_family
from adas.detect.heads.preprocessing import FAMILY_PREPROCESSING
from adas.detect.registry import ModelSpec
from adas.detect.session import parse_imgsz
from adas.errors import ConfigError, ModelFormatError

log = logging.getLogger(__name__)

CARD_KEYS = (
    "family",
    "channel_order",
    "resize",
    "align",
    "pad_value",
    "mean",
    "std",
    "classes",
    "min_score",
    "source",
    "licence",
    "input_size",
)
PREPROCESSING_KEYS = ("channel_order", "resize", "align", "pad_value", "mean", "std")


@dataclass(frozen=True)
class ModelInfo:
    """What the ONNX file says about itself: input, outputs, metadata (from the session)."""

    path: Path
    input_name: str
    input_shape: list[Any]
    output_names: list[str]
    output_shapes: list[list[Any]]
    metadata: dict[str, str]
    input_wh: tuple[int, int]  # the size it runs at (fixed, or a dynamic input's chosen one)

    @classmethod
    def of(cls, session: Any) -> ModelInfo:
        """From an :class:`adas.detect.session.OnnxSession`."""
        return cls(
            Path(session.path),
            session.input_name,
            list(session.input_shape),
            list(session.output_names),
            [list(s) for s in session.output_shapes],
            dict(session.metadata),
            (int(session.input_w), int(session.input_h)),
        )


def card_path_for(model_path: str | Path) -> Path:
    """The card beside a model file: ``model.onnx`` -> ``model.toml``."""
    return Path(model_path).with_suffix(".toml")


def read_card(path: str | Path) -> dict[str, Any]:
    """A card's values (only the keys it sets), checked for unknown keys and types."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"cannot read the model card {path}: {exc}"
        raise ConfigError(msg) from exc
    unknown = sorted(set(raw) - set(CARD_KEYS))
    if unknown:
        msg = f"model card {path}: unknown keys {unknown}; allowed {list(CARD_KEYS)}"
        raise ConfigError(msg)
    card = dict(raw)
    try:
        for key in ("mean", "std"):
            if key in card:
                card[key] = tuple(float(v) for v in card[key])
        if isinstance(card.get("classes"), list):
            card["classes"] = tuple(str(c) for c in card["classes"])
        if "pad_value" in card:
            card["pad_value"] = int(card["pad_value"])
        if "min_score" in card:
            card["min_score"] = float(card["min_score"])
        if "input_size" in card:
            size = tuple(int(v) for v in card["input_size"])
            if len(size) != 2 or min(size) <= 0:
                raise ValueError(f"input_size = {card['input_size']} must be [H, W] > 0")
            card["input_size"] = size
    except (TypeError, ValueError) as exc:
        msg = f"model card {path}: {exc}"
        raise ConfigError(msg) from exc
    if "family" in card and card["family"] not in DECODERS:
        msg = f"model card {path}: family = {card['family']!r}; known: {sorted(DECODERS)}"
        raise ConfigError(msg)
    return card


def metadata_values(info: ModelInfo) -> dict[str, Any]:
    """Card values read from the exporter's metadata (class names), after checking ``task``.

    Raises ModelFormatError for a non-detection task (segment, pose, classify, obb).
    """
    meta = info.metadata
    task = meta.get("task", "").strip().strip("'\"")
    if task and task != "detect":
        msg = (
            f"{info.path}: its metadata says task = {task!r}; adas runs object detectors "
            "(task 'detect'). Export the detection model"
        )
        raise ModelFormatError(msg)
    out: dict[str, Any] = {}
    if "names" in meta:
        try:
            names = ast.literal_eval(meta["names"])
        except (ValueError, SyntaxError):
            log.warning("%s: metadata names are not a literal; ignored", info.path)
            names = None
        if isinstance(names, dict) and names:
            try:
                keys = sorted(int(k) for k in names)
            except (TypeError, ValueError):
                keys = []
            if keys == list(range(len(keys))):
                out["classes"] = tuple(str(names[k]) for k in keys)
        elif isinstance(names, list | tuple) and names:
            out["classes"] = tuple(str(n) for n in names)
    imgsz = meta.get("imgsz")
    if imgsz:
        hw = parse_imgsz(imgsz)
        wh = info.input_wh
        if hw is not None and hw != (wh[1], wh[0]):
            log.warning("%s: metadata imgsz %s but the input is %dx%d", info.path, imgsz, *wh)
    return out


def card_input_size(config_card: str | Path | None, model_path: Path) -> tuple[int, int] | None:
    """The ``input_size`` of the card a model will run with (before its session is made)."""
    path = Path(config_card) if config_card else card_path_for(model_path)
    if not path.is_file():
        return None
    size = read_card(path).get("input_size")
    return (int(size[0]), int(size[1])) if size else None


SPEC_KEYS = ("family", *PREPROCESSING_KEYS, "classes", "min_score")


def spec_values(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """What a model runs with (JSON-ready: tuples as lists) and where each value came from."""
    values = {k: getattr(spec, k) for k in SPEC_KEYS}
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return values, {k: spec.origin.get(k, "") for k in SPEC_KEYS}


def card_text(values: dict[str, Any], note: str = "") -> str:
    """A card's TOML for ``values`` (strings, numbers, lists of either), ``note`` as comments."""
    lines = [f"# {line}" for line in note.splitlines()]
    for key, v in values.items():
        if isinstance(v, str):
            lines.append(f'{key} = "{v}"')
        elif isinstance(v, tuple | list):
            inner = ", ".join(f'"{x}"' if isinstance(x, str) else repr(float(x)) for x in v)
            lines.append(f"{key} = [{inner}]")
        else:
            lines.append(f"{key} = {v!r}")
    return "\n".join(lines) + "\n"


def card_template(info: ModelInfo | None = None, family: str = "") -> str:
    """A card to fill in, with the family's defaults where a family is known."""
    base = dict(FAMILY_PREPROCESSING.get(family, FAMILY_PREPROCESSING["yolov8"]))
    lines = [
        f"# model card for {info.path.name}" if info else "# model card",
        f'family = "{family or "?"}"   # one of {sorted(DECODERS)}',
        f'channel_order = "{base["channel_order"]}"',
        f'resize = "{base["resize"]}"',
        f'align = "{base["align"]}"',
        f"pad_value = {base['pad_value']}",
        f"mean = {list(base['mean'])}",
        f"std = {list(base['std'])}",
        'classes = "coco80"   # or the class names in output order: ["car", "pedestrian", ...]',
        "min_score = 0.0",
        'source = ""',
        'licence = ""',
    ]
    return "\n".join(lines) + "\n"


def _family(info: ModelInfo, values: dict[str, Any]) -> str:
    if "family" in values:
        return str(values["family"])
    try:
        return identify_family(info.output_names, info.output_shapes, info.input_wh)
    except ModelFormatError as exc:
        msg = (
            f"{exc}.\nInput {info.input_name}: {info.input_shape}. If the outputs are of a "
            f"known family in another order or naming, write a card {card_path_for(info.path)}"
            f" (or pass --model-card):\n{card_template(info)}"
        )
        raise ModelFormatError(msg) from None


def build_spec(
    info: ModelInfo,
    registry_spec: ModelSpec | None = None,
    card: str | Path | None = None,
) -> ModelSpec:
    """The spec a model runs with: card over registry over metadata over family defaults.

    ``card`` is an explicit card path; without one the card beside the model is used when it
    exists. ``origin`` of the result says where each value came from.
    """
    card_path = Path(card) if card else card_path_for(info.path)
    if card and not card_path.is_file():
        msg = f"model card {card_path} not found"
        raise ConfigError(msg)
    card_values = read_card(card_path) if card_path.is_file() else {}
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    layers: list[tuple[dict[str, Any], str]] = [(card_values, f"card {card_path}")]
    if registry_spec is not None:
        reg = {k: getattr(registry_spec, k) for k in registry_spec.origin if k in CARD_KEYS}
        layers.append((reg, f"registry [{registry_spec.name}]"))
    layers.append((metadata_values(info), "ONNX metadata (names)"))
    for layer, where in layers:
        for key, value in layer.items():
            if key not in values:
                values[key], origin[key] = value, where
    family = _family(info, values)
    if "family" not in values:
        values["family"], origin["family"] = family, "output shapes (identify_family)"
    defaults = FAMILY_PREPROCESSING.get(family, {})
    for key in (*PREPROCESSING_KEYS, "min_score"):
        if key not in values and key in defaults:
            value = defaults[key]
            values[key] = tuple(float(v) for v in value) if key in ("mean", "std") else value
            origin[key] = f"family default [{family}]"
    for key in CARD_KEYS:
        if key != "input_size":
            origin.setdefault(key, "built-in default")
    name = registry_spec.name if registry_spec is not None else info.path.stem
    extra: dict[str, Any] = {}
    if registry_spec is not None:
        extra = {"url": registry_spec.url, "sha256": registry_spec.sha256}
    kwargs = {k: v for k, v in values.items() if k in CARD_KEYS and k != "input_size"}
    spec = ModelSpec(name=name, file=info.path.name, origin=origin, **kwargs, **extra)
    if card_values:
        log.info("%s: model card %s (%s)", info.path.name, card_path, sorted(card_values))
    elif registry_spec is None:
        log.info(
            "%s is not in the model registry and has no card: %s with its family's "
            "preprocessing (adas models inspect shows each value's origin)",
            info.path.name,
            family,
        )
    return spec
