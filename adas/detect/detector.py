"""The detector stage: camera image in, :class:`adas.types.Detections` out.

preprocess (``adas.preprocess``: band/tiles packed into one input, bit-exact backends)
-> ONNX Runtime (``adas.detect.session``) -> decoder of the model family
(``adas.detect.heads``) -> boxes back to image pixels -> seam merging of the tiles
(``adas.detect.tiling``) -> COCO -> ADAS classes -> class-aware NMS, the vehicle classes as
one, and nested vehicle boxes dropped (``adas.detect.nms``) ->
a second look at uncertain pedestrians and two-wheelers (``adas.detect.second_look``) ->
riders fused with their bicycle or motorcycle (``adas.detect.riders``) -> per-class score
thresholds -> NMS again (a fused box may cover another).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adas.detect import classes as coco
from adas.detect.candidates import TileTableCache, image_candidates
from adas.detect.cards import ModelInfo, build_spec, card_input_size
from adas.detect.config import DetectConfig
from adas.detect.heads import DECODERS
from adas.detect.nms import nms, suppress_nested, vehicle_groups
from adas.detect.registry import ModelSpec, resolve_model
from adas.detect.riders import RiderRule, fuse_riders
from adas.detect.second_look import second_look
from adas.detect.session import OnnxSession
from adas.detect.tiling import Layout, horizon_band, merge_tiles, plan_layout
from adas.errors import ConfigError, ContractError
from adas.preprocess import Normalize, Preprocessor
from adas.types import Detections, Frame, IntArray, ObjectClass, PixelFormat

if TYPE_CHECKING:
    from adas.camera import CameraModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectLatency:
    """Wall time of one frame's detector parts, in nanoseconds: preprocessing (in
    :meth:`Detector.prepare`), the model run, and decoding + mapping + NMS + the second look
    (postprocess; the second look's own share, crops + model + decoding, is also
    ``second_look_ns``, 0 on a frame without uncertain candidates)."""

    preprocess_ns: int
    infer_ns: int
    postprocess_ns: int
    second_look_ns: int = 0


@dataclass
class PreparedInput:
    """A frame's model input: the tensor (1 x C x H x W float32), the tile layout and each
    tile's transform back to image pixels, and the preprocessing time [ns]; the frame itself
    (not copied: the second look crops it) and its pixel format."""

    tensor: np.ndarray
    layout: Layout
    transforms: list[Any]
    preprocess_ns: int
    image: np.ndarray | None = None
    pixel_format: PixelFormat = PixelFormat.BGR8


@dataclass(frozen=True)
class ModelRun:
    """The model's raw outputs on one prepared input (session order) and its wall time [ns]:
    what :meth:`Detector.finish` decodes."""

    prepared: PreparedInput
    outputs: list[np.ndarray]
    infer_ns: int


class Detector:
    """A model, its session, and the geometry cache of the frame sizes it has seen.

    ``camera`` (optional) places the horizon band; without one the band is centred on the
    image's middle row. ``config.tiles = 1`` with ``band_up_deg = band_down_deg = 90`` is a
    plain whole-frame pass.
    """

    def __init__(self, config: DetectConfig | None = None, camera: CameraModel | None = None):
        self.config = cfg = config or DetectConfig()
        self.camera = camera
        path, registry_spec = resolve_model(cfg.model or None)
        self.session = OnnxSession(
            path,
            providers=cfg.providers,
            intra_op_threads=cfg.intra_op_threads,
            inter_op_threads=cfg.inter_op_threads,
            require_first_provider=cfg.require_first_provider,
            io_binding=cfg.io_binding,
            input_hw=card_input_size(cfg.model_card or None, path),
        )
        # Card over registry over the file's metadata over the family's defaults (cards.py).
        spec = build_spec(ModelInfo.of(self.session), registry_spec, cfg.model_card or None)
        self.spec: ModelSpec = spec
        self.label_table = coco.label_table(spec.classes)
        self.ridden = coco.ridden_classes(spec.classes)
        self.decode = DECODERS[spec.family]
        self.normalize = Normalize(mean=spec.mean, std=spec.std)
        self._thresholds = np.maximum(cfg.scores.table(), np.float32(spec.min_score))
        # Candidates: classes with a second look down to its floor; every class's own
        # threshold applies at the end.
        self.look_classes = np.zeros(len(ObjectClass), bool)
        self.look_classes[[int(ObjectClass[c.upper()]) for c in cfg.second_look_classes]] = True
        self.candidate_floors = self._thresholds.copy()
        if self.look_classes.any():
            look_floor = np.float32(max(cfg.second_look_min_score, spec.min_score))
            self.candidate_floors[self.look_classes] = np.minimum(
                self.candidate_floors[self.look_classes], look_floor
            )
        self.candidate_floor = float(self.candidate_floors.min())
        self.rider_rule = RiderRule()
        self.nms_group, self.nested_group = vehicle_groups(
            [int(ObjectClass[c.upper()]) for c in cfg.vehicle_classes], len(ObjectClass)
        )
        self._geometry: dict[tuple[PixelFormat, int, int], tuple[Layout, list[Preprocessor]]] = {}
        self._tables = TileTableCache()  # the candidates kernel's view of each layout
        self._input = np.empty(
            (1, self.session.channels, self.session.input_h, self.session.input_w), np.float32
        )
        self.frames = 0
        self.second_look_failures = 0

    def use_camera(self, camera: CameraModel | None) -> None:
        """Place the horizon band for another camera (a new drive); the session is kept."""
        self.camera = camera
        self._geometry.clear()
        self._tables.clear()

    @property
    def providers_used(self) -> list[str]:
        return self.session.providers_used

    def layout(
        self, width: int, height: int, pixel_format: PixelFormat = PixelFormat.BGR8
    ) -> Layout:
        """The tile layout used for frames of ``width`` x ``height`` pixels."""
        return self._prepare(_checked_format(pixel_format), width, height)[0]

    def _prepare(self, fmt: PixelFormat, w: int, h: int) -> tuple[Layout, list[Preprocessor]]:
        key = (fmt, w, h)
        if key in self._geometry:
            return self._geometry[key]
        cfg, spec = self.config, self.spec
        model_wh = self.session.input_wh
        if cfg.tiles == 1 and cfg.band_up_deg >= 90.0 and cfg.band_down_deg >= 90.0:
            # The model's own preprocessing (stretch or letterbox as trained).
            layout = plan_layout((w, h), model_wh, tiles=1, gap_px=0)
            pre = [self.preprocessor(fmt, (w, h), model_wh, None, spec.resize, spec.align)]
            self._geometry[key] = (layout, pre)
            return layout, pre
        cam = self.camera
        band = horizon_band(
            cam if cam is not None and (cam.width, cam.height) == (w, h) else None,
            (w, h), cfg.band_up_deg, cfg.band_down_deg,
        )  # fmt: skip
        layout = plan_layout(
            (w, h),
            model_wh,
            band=band,
            tiles=cfg.tiles,
            max_tiles=cfg.max_tiles,
            overlap_frac=cfg.tile_overlap,
            gap_px=cfg.tile_gap_px,
        )
        pres = [
            self.preprocessor(
                fmt, (w, h), (model_wh[0], t.slot_h), (t.x, t.y, t.w, t.h), "letterbox", "top-left"
            )
            for t in layout.tiles
        ]
        log.info(
            "detector layout for %dx%d: %d tile(s) of %dx%d from rows %d-%d, scale %.3f",
            w,
            h,
            len(layout.tiles),
            layout.tiles[0].w,
            layout.tiles[0].h,
            band[0],
            band[1],
            layout.scale,
        )
        self._geometry[key] = (layout, pres)
        return layout, pres

    def preprocessor(
        self,
        fmt: PixelFormat,
        in_wh: tuple[int, int],
        out_wh: tuple[int, int],
        roi: tuple[int, int, int, int] | None,
        mode: str,
        align: str,
        backend: str | None = None,
    ) -> Preprocessor:
        return Preprocessor(
            backend or self.config.preprocess_backend,
            # The Preprocessor's signature takes the format's value (it parses it back).
            input_format=fmt,
            in_size=in_wh,
            out_size=out_wh,
            roi=roi,
            pad_value=self.spec.pad_value,
            normalize=self.normalize,
            mode=mode,
            align=align,
            channel_order=self.spec.channel_order,
        )

    def __call__(self, frame: Frame) -> Detections:
        return self.detect(frame.image, frame.pixel_format)

    def detect(self, image: np.ndarray, pixel_format: PixelFormat = PixelFormat.BGR8) -> Detections:
        """Detect objects in one image of ``pixel_format``: the one-shot convenience call.

        The detections only; a caller that wants the latencies calls ``infer(prepare(...))``.
        """
        return self.infer(self.prepare(image, pixel_format, out=self._input))[0]

    def prepare(
        self,
        image: np.ndarray,
        pixel_format: PixelFormat = PixelFormat.BGR8,
        out: np.ndarray | None = None,
    ) -> PreparedInput:
        """Preprocess one image into the model's input tensor (``out``, or a new array).

        Split from :meth:`infer` so a pipelined loop can prepare the next frame while the
        model runs on this one; ``detect`` is exactly ``infer(prepare(...))``. ``out`` may be
        the tensor of an earlier PreparedInput that has been inferred already.
        """
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            dtype, shape = getattr(image, "dtype", ""), getattr(image, "shape", "")
            kind = type(image).__name__
            msg = f"detector input must be a uint8 image array, got {kind} {dtype} {shape}"
            raise ContractError(msg)
        fmt = _checked_format(pixel_format)
        h = image.shape[0]
        w = image.shape[1] // 2 if fmt is PixelFormat.YUYV and image.ndim == 2 else image.shape[1]
        t0 = time.perf_counter_ns()
        layout, pres = self._prepare(fmt, w, h)
        tensor = np.empty_like(self._input) if out is None else out
        transforms = []
        for tile, pre in zip(layout.tiles, pres, strict=True):
            # Straight into the tile's rows of the input: no tile tensor, no copy.
            transforms.append(
                pre.run_into(image, tensor[:, :, tile.slot_y : tile.slot_y + tile.slot_h, :])
            )
        if len(layout.tiles) > 1:
            self._fill_gaps(layout, tensor)
        return PreparedInput(tensor, layout, transforms, time.perf_counter_ns() - t0, image, fmt)

    def infer(self, prepared: PreparedInput) -> tuple[Detections, DetectLatency]:
        """Run the model on a prepared input and decode its boxes into image pixels; the
        detections and this frame's latencies (preprocessing as measured by :meth:`prepare`).
        Exactly ``finish(run_model(prepared))``."""
        return self.finish(self.run_model(prepared))

    def run_model(self, prepared: PreparedInput, *, keep: bool = False) -> ModelRun:
        """The model on a prepared input, nothing else: the part a pipelined loop gives a
        thread of its own. ``keep``: the outputs are copied out of the session's buffers,
        which its next run overwrites (a caller that runs the next frame before
        :meth:`finish` of this one)."""
        t1 = time.perf_counter_ns()
        outputs = self.session.run(prepared.tensor)
        infer_ns = time.perf_counter_ns() - t1
        if keep:
            outputs = [o.copy() for o in outputs]
        return ModelRun(prepared, outputs, infer_ns)

    def finish(self, run: ModelRun) -> tuple[Detections, DetectLatency]:
        """A model run's boxes decoded into image pixels, the second look, the riders, the
        thresholds and NMS: the detections and the frame's latencies."""
        prepared, outputs = run.prepared, run.outputs
        t2 = time.perf_counter_ns()
        raw = self.decode(
            outputs,
            self.session.input_wh,
            self.candidate_floor,
            output_names=self.session.output_names,
        )
        xyxy, score, cls = self._to_image(
            prepared.layout, prepared.transforms, raw.xyxy, raw.score, raw.label
        )
        t_look = time.perf_counter_ns()
        try:
            xyxy, score, cls, extra = second_look(self, prepared, xyxy, score, cls)
        except (ConfigError, ContractError, ValueError) as exc:
            # A crop the preprocessing refuses must not stop a drive: this frame keeps its
            # first-pass candidates (each class's threshold still applies), counted and logged.
            self.second_look_failures += 1
            log.warning("second look skipped on frame %d: %s", self.frames, exc)
            extra = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
        t_look = time.perf_counter_ns() - t_look
        dets = self._finish(xyxy, score, cls, extra)
        t3 = time.perf_counter_ns()
        self.frames += 1
        return dets, DetectLatency(prepared.preprocess_ns, run.infer_ns, t3 - t2, t_look)

    def _finish(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        cls: IntArray,
        extra: tuple[np.ndarray, np.ndarray, IntArray],
    ) -> Detections:
        """Riders fused with their two-wheeler (partners from both passes), then each class's
        own threshold, then class-aware NMS once more."""
        partner = None  # the second look's two-wheelers: partners only
        if len(extra[0]):
            n = len(xyxy)
            xyxy = np.concatenate([xyxy, extra[0]]).astype(np.float32)
            score = np.concatenate([score, extra[1]]).astype(np.float32)
            cls = np.concatenate([cls, extra[2]]).astype(np.int64)
            partner = np.arange(len(xyxy)) >= n
        xyxy, score, cls = fuse_riders(
            xyxy, score, cls, self._thresholds, partner, self.rider_rule, self.ridden
        )
        if not len(xyxy):
            return Detections.empty()
        idx = self.suppress(xyxy, score, cls)
        return Detections.from_arrays(xyxy[idx], score[idx], cls[idx])

    def suppress(self, xyxy: np.ndarray, score: np.ndarray, cls: IntArray) -> IntArray:
        """Rows kept (descending score) by NMS, the vehicle classes as one, and by the nested-
        box rule over the vehicles (``[detect] vehicle_classes``, ``nested_fraction``)."""
        cfg = self.config
        idx = nms(xyxy, score, self.nms_group[cls], cfg.nms_iou, cfg.max_detections)
        return idx[
            suppress_nested(xyxy[idx], score[idx], self.nested_group[cls[idx]], cfg.nested_fraction)
        ]

    def pad_values(self) -> np.ndarray:
        """The model input's value of a padding pixel, per channel (pad value normalised)."""
        pad = (np.full(3, self.spec.pad_value, np.float64) - self.spec.mean) / self.spec.std
        return pad[: self.session.channels].astype(np.float32)

    def _fill_gaps(self, layout: Layout, tensor: np.ndarray) -> None:
        pad = self.pad_values()
        for a, b in zip(layout.tiles[:-1], layout.tiles[1:], strict=True):
            tensor[0, :, a.slot_y + a.slot_h : b.slot_y, :] = pad[:, None, None]

    def _to_image(
        self,
        layout: Layout,
        transforms: list[Any],
        xyxy: np.ndarray,
        score: np.ndarray,
        label: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, IntArray]:
        """Decoded rows -> the candidates in image pixels (class floors of the candidates,
        tiles merged, class-aware NMS), in descending score."""
        out, score, cls, tile = image_candidates(
            layout,
            transforms,
            self._tables.get(layout, transforms, self.config.min_box_px),
            (xyxy, score, label),
            self.label_table,
            self.candidate_floors,
            self.config.min_box_px,
        )
        if len(out) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        if len(layout.tiles) > 1:
            keep = merge_tiles(
                layout,
                out,
                score,
                cls,
                tile,
                edge_tol_px=self.config.seam_edge_tol_px,
                cover_fraction=self.config.seam_cover_fraction,
            )
            out, score, cls = out[keep], score[keep], cls[keep]
        idx = self.suppress(out, score, cls)
        return out[idx], score[idx], cls[idx]


def _checked_format(pixel_format: object) -> PixelFormat:
    """``pixel_format`` if it is a PixelFormat; ContractError naming the allowed ones if not."""
    if not isinstance(pixel_format, PixelFormat):
        allowed = [f.name for f in PixelFormat]
        msg = f"pixel format {pixel_format!r} is not an adas.types.PixelFormat; one of {allowed}"
        raise ContractError(msg)
    return pixel_format
