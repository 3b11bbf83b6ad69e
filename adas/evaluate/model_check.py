"""``adas models check``: does a model, fed as its card says, find what labelled frames show?

Wrong preprocessing (a channel swap, a missing normalisation, a stretch where the model was
trained on letterboxed images) gives detections that look like detections and are garbage; the
only sign is that they miss what the labels hold. So a model is run, through the stack's own
detector (:class:`adas.detect.detector.Detector`, default configuration), on labelled KITTI
frames (the shared ``kitti/object`` and ``kitti/object_val`` when ``--images`` is not given) and
scored per class by the rules of ``adas eval kitti-object``.

The verdict: a model **fails** when the frames hold at least :data:`MIN_CARS` cars that must be
found and its car recall is below :data:`MIN_CAR_RECALL` or its car precision below
:data:`MIN_CAR_PRECISION`. The rule for both bounds: half the lowest figure of the three
registry models on the 51 shared frames through the same detector (2026-12-07: recall
yolox_nano 0.832, nanodet_m_320 0.720, fastestdet 0.645; precision 0.767, 0.740, 0.605),
rounded down to 0.3. A model with the wrong preprocessing scored 0 of 26 cars on
``kitti/object`` (issue 20's NanoDet-416 and PicoDet exports), so the bound is far from both.
Fewer cars than :data:`MIN_CARS` cannot judge a model: that is a failed check too, saying so.

:func:`fit_card` tries the plausible preprocessings (channel order x normalisation x resize)
and keeps the one that scores best (:func:`fit_card` says how ties are broken).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adas.detect.cards import PREPROCESSING_KEYS, card_path_for, card_text, spec_values
from adas.detect.config import DetectConfig
from adas.detect.detector import Detector
from adas.detect.heads import DECODERS
from adas.detect.heads.preprocessing import FAMILY_PREPROCESSING
from adas.detect.registry import resolve_model, sha256_of
from adas.errors import DataFormatError, ModelFormatError
from adas.evaluate.kitti_classes import RULES
from adas.evaluate.kitti_object import Counts, Sample, detect_samples, discover, score_image

log = logging.getLogger(__name__)

MIN_CARS = 10
MIN_CAR_RECALL = 0.3
MIN_CAR_PRECISION = 0.3

# The normalisations exporters use, per channel on 0-255 pixels (ImageNet's in RGB order).
NORMALISATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "0-255": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "0-1": ((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)),
    "imagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
}
RESIZES = (("letterbox", "center"), ("letterbox", "top-left"), ("stretch", "top-left"))
FIT_TIE_SIGMAS = 2.0  # counts within this many Poisson sigmas of the best are no evidence


def default_roots() -> list[Path]:
    """The shared labelled KITTI frames under ``$ADAS_DATA_DIR`` (or ../shared/data)."""
    base = Path(os.environ.get("ADAS_DATA_DIR") or Path("..", "shared", "data"))
    return [p for p in (base / "kitti" / "object", base / "kitti" / "object_val") if p.is_dir()]


def _samples(roots: Sequence[Path]) -> list[Sample]:
    if not roots:
        msg = (
            "no labelled frames to check the model on: pass --images DIR (a KITTI object folder "
            "with image_2/ and label_2/), or set ADAS_DATA_DIR to a data folder with "
            "kitti/object (python tools/fetch_data.py --only kitti-object)"
        )
        raise DataFormatError(msg)
    return [s for r in roots for s in discover(r)]


def score(
    detector: Detector, samples: Sequence[Sample], classes: Sequence[str] = tuple(RULES)
) -> dict[str, dict[str, Any]]:
    """Per-class counts (``cars``, ``pedestrians``, ``cyclists``) of a detector on samples."""
    rules = [RULES[c] for c in classes]
    total = {r.key: Counts() for r in rules}
    for s, _, dets in detect_samples(detector, samples):
        for r in rules:
            total[r.key].add(score_image(dets, s.labels, rule=r)[0])
    return {k: c.to_dict() for k, c in total.items()}


def verdict(cars: dict[str, Any]) -> tuple[bool, str]:
    """(passed, one line why) of a check's car counts (the module docstring's rule)."""
    gt, tp, fp = cars["gt"], cars["tp"], cars["fp"]
    if gt < MIN_CARS:
        return False, f"only {gt} labelled cars to find (need {MIN_CARS}): cannot judge the model"
    recall = tp / gt
    precision = tp / (tp + fp) if tp + fp else 0.0
    if recall < MIN_CAR_RECALL or precision < MIN_CAR_PRECISION:
        return False, (
            f"found {tp} of {gt} labelled cars with {fp} false boxes (recall {recall:.2f}, "
            f"precision {precision:.2f}; a working detector has >= {MIN_CAR_RECALL} and "
            f">= {MIN_CAR_PRECISION}): the preprocessing (channel order, normalisation, "
            "resize) or the decoder is probably wrong for this model; try --fit-card"
        )
    return (
        True,
        f"found {tp} of {gt} cars, {fp} false (recall {recall:.2f}, precision {precision:.2f})",
    )


def spec_summary(detector: Detector) -> dict[str, Any]:
    values, origin = spec_values(detector.spec)
    return {"values": values, "origin": origin}


def check(
    model: str,
    *,
    card: str | Path | None = None,
    roots: Sequence[Path] | None = None,
    config: DetectConfig | None = None,
) -> dict[str, Any]:
    """Run ``model`` (with ``card``) through the stack's detector on labelled frames; the
    JSON-ready report with the verdict (``passed``, ``reason``)."""
    samples = _samples(list(roots) if roots is not None else default_roots())
    cfg = dataclasses.replace(config or DetectConfig(), model=model, model_card=str(card or ""))
    detector = Detector(cfg)
    counts = score(detector, samples)
    passed, reason = verdict(counts["cars"])
    return {
        "model": str(detector.session.path),
        "card": str(card or ""),
        "images": len(samples),
        "spec": spec_summary(detector),
        **counts,
        "passed": passed,
        "reason": reason,
    }


def _f1(c: dict[str, Any]) -> float:
    tp, fp, gt = c["tp"], c["fp"], c["gt"]
    return 2.0 * tp / (gt + tp + fp) if gt + tp + fp else 0.0


def fit_card(
    model: str,
    *,
    roots: Sequence[Path] | None = None,
    out: Path | None = None,
    config: DetectConfig | None = None,
) -> dict[str, Any]:
    """First the family: where decoders of several families read the model's outputs
    (:func:`layout_families`), each is tried with its standard preprocessing and the best
    kept (the identified one on a tie). Then every channel order x normalisation x resize
    (:data:`NORMALISATIONS`, :data:`RESIZES`) on a plain single pass of the model (its own
    preprocessing of the whole frame: the only path where resize and alignment act), keeping
    the best car F1.

    Ties go to the candidate that agrees most with the family's standard preprocessing: where
    the frames cannot tell two choices apart, the family's convention stands. A candidate ties
    with the best when its found and false car counts differ from the best's by at most
    :data:`FIT_TIE_SIGMAS` Poisson sigmas in all (|dTP| + |dFP| <= 2 sqrt(TP + FP) of the
    best): on the 13 ``kitti/object`` frames FastestDet finds 10 cars fed RGB and 9 fed BGR,
    which says nothing about its channel order; on all 51 shared frames BGR finds 48 to 30.

    The chosen card (family, preprocessing; classes and score floor as the model had them) is
    written to ``out`` when given; the report lists every candidate's counts.
    """
    samples = _samples(list(roots) if roots is not None else default_roots())
    base = dataclasses.replace(
        config or DetectConfig(),
        model=model,
        tiles=1,
        band_up_deg=90.0,
        band_down_deg=90.0,
        second_look_classes=(),
    )
    probe = Detector(base)
    families = _family_trials(probe, base, samples)
    family = families[0]["family"]
    default = FAMILY_PREPROCESSING.get(family, {})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for norm, values in candidates(family):
            path = Path(tmp) / "candidate.toml"
            path.write_text(card_text(values, "candidate"))
            cars = score(
                Detector(dataclasses.replace(base, model_card=str(path))), samples, ("car",)
            )
            agree = sum(
                tuple(np.atleast_1d(values[k])) == tuple(np.atleast_1d(default.get(k, ())))
                for k in ("channel_order", "resize", "align", "mean", "std")
            )
            row = {"channel_order": values["channel_order"], "normalisation": norm,
                   "resize": values["resize"], "align": values["align"],
                   "f1": round(_f1(cars["cars"]), 4), "cars": cars["cars"]}  # fmt: skip
            rows.append((row, values, agree))
            log.info("fit %s: %s", row, cars["cars"])
    top = max(rows, key=lambda t: t[0]["f1"])[0]["cars"]
    ties = [t for t in rows if _ties(t[0]["cars"], top)]
    best, values, _ = max(ties, key=lambda t: (t[2], t[0]["f1"]))
    values = {**values, "classes": probe.spec.classes, "min_score": probe.spec.min_score}
    note = (
        f"written by adas models check --fit-card on {len(samples)} labelled frames: car F1 "
        f"{best['f1']} on a plain single pass\n(best of {len(rows)} candidates; ties within "
        f"{FIT_TIE_SIGMAS:g} Poisson sigmas went to the {family} family's convention)"
    )
    if out is not None:
        out.write_text(card_text(values, note))
    return {
        "family": family,
        "chosen": {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
        "chosen_f1": best["f1"],
        "families": families,
        "card": str(out) if out is not None else "",
        "candidates": sorted((r for r, _, _ in rows), key=lambda r: -float(r["f1"])),
    }


def _ties(a: dict[str, Any], best: dict[str, Any]) -> bool:
    """Car counts ``a`` no worse than ``best`` on this evidence (:func:`fit_card`'s rule)."""
    margin = FIT_TIE_SIGMAS * math.sqrt(best["tp"] + best["fp"])
    return bool(abs(a["tp"] - best["tp"]) + abs(a["fp"] - best["fp"]) <= margin)


def layout_families(detector: Detector) -> list[str]:
    """Every family whose decoder reads the model's outputs (run once on a blank input): some
    layouts are shared (PicoDet's per-stride outputs are NanoDet-Plus's with other centres;
    YOLOv6's rows are YOLOX's with boxes in pixels), and only the frames can tell them apart."""
    s = detector.session
    outputs = s.run(np.zeros((1, s.channels, s.input_h, s.input_w), np.float32))
    out = []
    for name, decode in DECODERS.items():
        try:
            decode(outputs, s.input_wh, 1.0, output_names=s.output_names)
        except (ModelFormatError, ValueError, IndexError, TypeError):
            continue
        out.append(name)
    return out


def _family_trials(
    probe: Detector, base: DetectConfig, samples: Sequence[Sample]
) -> list[dict[str, Any]]:
    """The families whose decoders read the model's outputs, each tried with its own standard
    preprocessing, best first: the identified family unless another scores better beyond a
    tie (:func:`_ties`). One entry when the layout is the identified family's alone."""
    identified = probe.spec.family
    names = [f for f in layout_families(probe) if f != identified]
    if not names:
        return [{"family": identified, "cars": None}]
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fam in [identified, *names]:
            d = FAMILY_PREPROCESSING.get(fam, {})
            values = {"family": fam, **{k: d[k] for k in PREPROCESSING_KEYS if k in d}}
            path = Path(tmp) / "family.toml"
            path.write_text(card_text(values, "family trial"))
            det = Detector(dataclasses.replace(base, model_card=str(path)))
            trials.append({"family": fam, "cars": score(det, samples, ("car",))["cars"]})
    best = max(trials, key=lambda t: _f1(t["cars"]))
    if _ties(trials[0]["cars"], best["cars"]):
        best = trials[0]
    return [best, *(t for t in trials if t is not best)]


def candidates(family: str) -> list[tuple[str, dict[str, Any]]]:
    """(normalisation name, card values) of every channel order x normalisation x resize."""
    out = []
    for order in ("bgr", "rgb"):
        for norm, (mean, std) in NORMALISATIONS.items():
            for resize, align in RESIZES:
                values: dict[str, Any] = {
                    "family": family,
                    "channel_order": order,
                    "resize": resize,
                    "align": align,
                    "pad_value": 114 if resize == "letterbox" else 0,
                    "mean": mean if order == "rgb" else mean[::-1],
                    "std": std if order == "rgb" else std[::-1],
                }
                out.append((norm, values))
    return out


def check_cache_dir() -> Path:
    """Where check verdicts are kept: ``$ADAS_CACHE_DIR/checks`` or ``~/.cache/adas/checks``."""
    base = os.environ.get("ADAS_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "adas") / "checks"


def guard(config: DetectConfig, *, force: bool = False) -> str:
    """Refuse to drive with a model whose self-check fails (ModelFormatError) unless ``force``.

    A registry model with its registered checksum and no card is trusted (its entry is what
    this project measured). Any other model (or card) is checked once on the shared labelled
    frames and the verdict cached by the sha256 of the model and the card; without labelled
    frames it cannot be checked, which refuses it too. Returns one line saying what was done.
    """
    path, registry_spec = resolve_model(config.model or None)
    card = Path(config.model_card) if config.model_card else card_path_for(path)
    card_bytes = card.read_bytes() if card.is_file() else b""
    digest = sha256_of(path)
    if registry_spec is not None and registry_spec.sha256 == digest and not card_bytes:
        return f"{registry_spec.name}: registry model, checksum verified"
    key = hashlib.sha256(digest.encode() + card_bytes).hexdigest()[:32]
    cached = check_cache_dir() / f"{key}.json"
    report: dict[str, Any] | None = None
    if cached.is_file():
        try:
            report = json.loads(cached.read_text())
        except (OSError, ValueError):
            report = None
    if report is None:
        roots = default_roots()
        if not roots:
            msg = (
                f"{path} is not a registry model and cannot be self-checked here (no labelled "
                "frames: set ADAS_DATA_DIR to a folder with kitti/object); run 'adas models "
                "check MODEL --images DIR' or pass --force to run it unchecked"
            )
            if force:
                log.warning("%s", msg)
                return "unchecked (--force)"
            raise ModelFormatError(msg)
        report = check(str(path), card=card if card_bytes else None, roots=roots, config=config)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(report))
        except OSError as exc:
            log.warning("cannot cache the model check in %s: %s", cached, exc)
    if report.get("passed"):
        return f"{path.name}: self-check passed ({report.get('reason', '')})"
    msg = f"{path}: model self-check failed: {report.get('reason', '')} (pass --force to run it)"
    if force:
        log.warning("%s; running anyway (--force)", msg)
        return "self-check failed, run anyway (--force)"
    raise ModelFormatError(msg)
