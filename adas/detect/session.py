"""One ONNX Runtime session per model, with the execution providers checked after it is made.

Providers are asked for in priority order (config ``detect.providers``, e.g. TensorRT, CUDA,
CPU). ONNX Runtime silently falls back to the next provider when one cannot start (a CUDA
build without cuDNN, a TensorRT without its libraries), so the providers the session actually
uses are read back, logged, and compared with what was asked: ``require_first_provider``
turns a fallback into an error for deployments that must not run slower than specified.

On the CPU provider the outputs go through IO binding into buffers allocated once, so a long
drive does not allocate per frame; the outputs are the same arrays every frame (copy them if
you keep them past the next ``run``). Measured on YOLOX-nano (2 cores): 25.2 ms bound vs
24.3 ms plain, no speed gain, so it is about steady memory, and ``io_binding = false`` in
config turns it off. On CUDA/TensorRT the decoders need the outputs on the host anyway, so
``run`` is used there.

Some exports take inputs besides the image; those of :data:`AUX_INPUTS` are fed constants that
keep the boxes in model-input pixels: PaddleDetection graphs with post-processing
(``im_shape`` = input height, width; ``scale_factor`` = 1, 1: ``ppdet`` divides the boxes by
it) and the RT-DETR / D-FINE deploy export (``orig_target_sizes`` = input width, height: its
post-processor multiplies the normalised boxes by it).
"""

from __future__ import annotations

import ast
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import ConfigError, ModelFormatError

log = logging.getLogger(__name__)

AUX_INPUTS = ("im_shape", "scale_factor", "orig_target_sizes")
_AUX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def provider_names(requested: Sequence[str]) -> list[str]:
    """ONNX Runtime names of the short provider names of the config, in order."""
    out = []
    for p in requested:
        key = p.lower()
        if key not in PROVIDERS:
            msg = f"config detect.providers: unknown provider {p!r}; allowed {list(PROVIDERS)}"
            raise ConfigError(msg)
        out.append(PROVIDERS[key])
    if not out:
        msg = "config detect.providers is empty; list at least 'cpu'"
        raise ConfigError(msg)
    return out


INPUT_TYPES: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}


def _fixed(d: Any) -> bool:
    return isinstance(d, int) and d > 0


def parse_imgsz(text: str) -> tuple[int, int] | None:
    """An exporter's ``imgsz`` metadata (Ultralytics: ``[h, w]`` or one int) as (h, w)."""
    try:
        size = ast.literal_eval(text)
        pair = size if isinstance(size, list | tuple) else (size, size)
        return int(pair[0]), int(pair[1])
    except (ValueError, SyntaxError, TypeError, IndexError):
        return None


def image_size(
    path: Path,
    name: str,
    shape: list[Any],
    metadata: dict[str, str],
    input_hw: tuple[int, int] | None,
) -> tuple[int, int, int]:
    """(channels, height, width) of the image input: its fixed dimensions, or for a dynamic
    height and width (an export with ``dynamic=True``) ``input_hw``, else the metadata's
    ``imgsz`` (Ultralytics: ``[h, w]``); ModelFormatError if neither says."""
    if len(shape) != 4:
        msg = f"{path}: input {name!r} has shape {shape}; expected 1 x C x H x W"
        raise ModelFormatError(msg)
    channels = int(shape[1]) if _fixed(shape[1]) else 3
    if _fixed(shape[2]) and _fixed(shape[3]):
        if input_hw is not None and tuple(input_hw) != (shape[2], shape[3]):
            log.warning("%s: input_size %s ignored: the input is fixed %s", path, input_hw, shape)
        return channels, int(shape[2]), int(shape[3])
    hw: Any = input_hw
    where = "the card's input_size"
    if hw is None and "imgsz" in metadata:
        hw = parse_imgsz(metadata["imgsz"])
        where = "the metadata's imgsz"
    if not (isinstance(hw, list | tuple) and len(hw) == 2 and all(_fixed(v) for v in hw)):
        msg = (
            f"{path}: input {name!r} has a dynamic size {shape} and nothing says which to use: "
            "give input_size = [H, W] in the model card, or export with a fixed size"
        )
        raise ModelFormatError(msg)
    log.info("%s: dynamic input %s run at %dx%d (%s)", path.name, shape, hw[1], hw[0], where)
    return channels, int(hw[0]), int(hw[1])


def aux_input(name: str, onnx_type: str, input_wh: tuple[int, int]) -> np.ndarray:
    """The 1 x 2 constant fed to the extra input ``name`` (one of AUX_INPUTS)."""
    w, h = input_wh
    values = {"im_shape": (h, w), "scale_factor": (1, 1), "orig_target_sizes": (w, h)}[name]
    if onnx_type not in _AUX_DTYPES:
        msg = f"input {name!r} is {onnx_type}; expected one of {sorted(_AUX_DTYPES)}"
        raise ModelFormatError(msg)
    return np.array([values], _AUX_DTYPES[onnx_type])


class OnnxSession:
    """A detector's ONNX Runtime session: one float input (1 x C x H x W), fixed outputs.

    Extra inputs named in AUX_INPUTS are allowed and get constants (module docstring).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] = ("cpu",),
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        require_first_provider: bool = False,
        io_binding: bool = True,
        warmup_runs: int = 1,
        input_hw: tuple[int, int] | None = None,
    ) -> None:
        """``input_hw`` fixes the image size of a model exported with a dynamic one (a card's
        ``input_size``); without it such a model takes its metadata's ``imgsz``."""
        import onnxruntime as ort  # heavy: imported where a session is made

        self.path = Path(path)
        if not self.path.is_file():
            msg = f"model file {self.path} not found"
            raise ModelFormatError(msg)
        wanted = provider_names(providers)
        available = set(ort.get_available_providers())
        usable = [p for p in wanted if p in available]
        for p in wanted:
            if p not in available:
                log.info("%s is not in this onnxruntime build (%s)", p, ort.__version__)
        if not usable:
            msg = (
                f"none of the providers {list(providers)} is available in onnxruntime "
                f"{ort.__version__} (available: {sorted(available)}); add 'cpu'"
            )
            raise ConfigError(msg)
        so = ort.SessionOptions()
        so.log_severity_level = 3  # exporter warnings (initializers in inputs) are noise
        so.intra_op_num_threads = int(intra_op_threads)
        so.inter_op_num_threads = int(inter_op_threads)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._sess = ort.InferenceSession(str(self.path), so, providers=usable)
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf types
            size = self.path.stat().st_size
            msg = (
                f"model file {self.path} ({size} bytes) could not be loaded by onnxruntime: "
                f"{type(exc).__name__}: {str(exc).strip()[:300]}. Is it a complete ONNX file? "
                "Fetch it again with tools/fetch_models.py"
            )
            raise ModelFormatError(msg) from exc
        self.providers_used: list[str] = list(self._sess.get_providers())
        self.providers_requested = wanted
        if require_first_provider and usable[:1] != wanted[:1]:
            msg = (
                f"{wanted[0]} is not in this onnxruntime build ({ort.__version__}) and "
                "detect.require_first_provider = true"
            )
            raise ConfigError(msg)
        if self.providers_used[:1] != usable[:1]:
            # Available in this build but it could not start (libraries, device, memory).
            text = (
                f"{self.path.name}: asked for {usable[0]} first, the session runs on "
                f"{self.providers_used}"
            )
            if require_first_provider:
                raise ConfigError(text + " (detect.require_first_provider = true)")
            log.warning(text)
        log.info("%s: providers in use %s", self.path.name, self.providers_used)

        inputs = self._sess.get_inputs()
        images = [i for i in inputs if i.name not in AUX_INPUTS]
        if len(images) != 1:
            names = [i.name for i in inputs]
            msg = (
                f"{self.path}: a detector has one image input (besides {list(AUX_INPUTS)}), "
                f"this model has {names}"
            )
            raise ModelFormatError(msg)
        inp = images[0]
        shape = list(inp.shape)
        try:  # exporters' key/value pairs (Ultralytics: names, imgsz, stride, task)
            meta = self._sess.get_modelmeta().custom_metadata_map
        except Exception:  # metadata is optional: a model without it still runs
            meta = {}
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in dict(meta).items()}
        self.channels, self.input_h, self.input_w = image_size(
            self.path, inp.name, shape, self.metadata, input_hw
        )
        if inp.type not in INPUT_TYPES:
            msg = (
                f"{self.path}: input {inp.name!r} is {inp.type}; expected tensor(float) or "
                "tensor(float16)"
            )
            raise ModelFormatError(msg)
        self.input_dtype = INPUT_TYPES[inp.type]
        self.input_name: str = inp.name
        self.input_shape: list[Any] = shape  # as declared (dynamic dimensions by name)
        self.aux_inputs: dict[str, np.ndarray] = {
            i.name: aux_input(i.name, i.type, (self.input_w, self.input_h))
            for i in inputs
            if i.name in AUX_INPUTS
        }
        self.output_names: list[str] = [o.name for o in self._sess.get_outputs()]
        self.output_shapes: list[list[Any]] = [list(o.shape) for o in self._sess.get_outputs()]
        self._binding: Any = None
        self._outputs: list[np.ndarray] = []
        static = all(all(isinstance(d, int) for d in s) for s in self.output_shapes) and all(
            o.type == "tensor(float)" for o in self._sess.get_outputs()
        )  # pre-bound buffers are float32; NMS graphs with integer outputs use plain run
        if io_binding and static and self.providers_used[0] == PROVIDERS["cpu"]:
            self._binding = self._sess.io_binding()
            for name, value in self.aux_inputs.items():
                self._binding.bind_cpu_input(name, value)
            for name, s in zip(self.output_names, self.output_shapes, strict=True):
                buf = np.empty(s, np.float32)
                self._outputs.append(buf)
                self._binding.bind_output(name, "cpu", 0, np.float32, s, buf.ctypes.data)
        # CPU time of the threads that called run, while in it [ns]: the model's CPU where
        # ONNX Runtime computes in the calling thread (intra_op_threads = 1; with more, its pool
        # threads' time is not in it). What `adas bench replay` subtracts from the replay's.
        self.run_cpu_ns = 0
        self._cpu_lock = threading.Lock()
        self.warmup_s = 0.0
        if warmup_runs > 0:
            t0 = time.perf_counter()
            dummy = np.zeros((1, self.channels, self.input_h, self.input_w), np.float32)
            for _ in range(warmup_runs):
                self.run(dummy)
            self.warmup_s = time.perf_counter() - t0

    @property
    def input_wh(self) -> tuple[int, int]:
        return self.input_w, self.input_h

    def run(self, tensor: np.ndarray, *, bound: bool = True) -> list[np.ndarray]:
        """Run on one 1 x C x H x W float32 tensor; returns the outputs in session order.

        With the CPU provider's bound outputs (``bound``, where the outputs are static) they
        are the session's own buffers, overwritten by the next bound run: one thread at a time.
        ``bound=False`` returns new arrays and may run beside a bound run in another thread
        (ONNX Runtime's ``run`` is thread-safe); the values are the same."""
        expected = (1, self.channels, self.input_h, self.input_w)
        if tensor.shape != expected or tensor.dtype != np.float32:
            msg = f"input tensor {tensor.shape} {tensor.dtype}; the model needs {expected} float32"
            raise ModelFormatError(msg)
        if self.input_dtype != np.float32:  # a half-precision export: cast once, here
            tensor = tensor.astype(self.input_dtype)
        c0 = time.thread_time_ns()
        try:
            if self._binding is None or not bound:
                feed = {self.input_name: tensor, **self.aux_inputs}
                return list(self._sess.run(self.output_names, feed))
            t = np.ascontiguousarray(tensor)
            self._binding.bind_input(
                self.input_name, "cpu", 0, self.input_dtype, list(t.shape), t.ctypes.data
            )
            self._sess.run_with_iobinding(self._binding)
            return self._outputs
        finally:
            spent = time.thread_time_ns() - c0
            with self._cpu_lock:
                self.run_cpu_ns += spent
