"""Output decoders of ONNX object detectors ("heads"): session outputs -> boxes in model-input
pixels, one decoder per model family, and :func:`identify_family` to tell the family from the
output shapes.

Every decoder is a pure function ``decode_<family>(outputs, input_wh, score_threshold)``.
``outputs`` are the session outputs in session order for one image (a leading batch dimension
of 1 is stripped), ``input_wh`` is the model input (width, height) and the result is a
:class:`RawDetections`: boxes in model-input pixels with continuous coordinates (x = 0 is the
left edge of the input tensor, x = width its right edge; pixel i spans [i, i + 1)), not clipped
to the input. Undoing the letterbox or stretch, and the half-pixel shift to the pixel-centre
convention of docs/architecture.md, is the caller's job. The arrays are new: session output
buffers that are reused every frame can be overwritten afterwards.

Rows below ``score_threshold`` are dropped before any per-row work (box transforms, softmax),
with vectorised numpy, because this runs every frame. Each row gets one label, its arg-max
class (the per-class variant, one candidate per class above the threshold, is left out: it
only adds same-place boxes of other classes that the class-aware NMS then has to sort out).
Rows with NaN or inf in what they use are dropped, never passed on; with DEBUG logging on, the
count of non-finite output values and dropped rows is logged.

Families (``DECODERS`` keys), one module per group, each with the upstream code its
conventions were read from:

- :mod:`adas.detect.heads.yolo`: ``yolox``, ``yolov5`` (and YOLOv7's plain export), ``yolov6``,
  ``yolov8`` (and YOLO11);
- :mod:`adas.detect.heads.nanodet`: ``nanodet`` (NanoDet-m), ``nanodet_plus`` and ``picodet``;
- :mod:`adas.detect.heads.fastestdet`: ``fastestdet``;
- :mod:`adas.detect.heads.detr`: ``rtdetr`` (RT-DETR, D-FINE);
- :mod:`adas.detect.heads.end2end`: ``nms``, graphs with NMS inside (YOLOv10, YOLOv7 end2end,
  EfficientNMS, PaddleDetection's multiclass_nms3).

What they share (result type, grid geometry, checks): :mod:`adas.detect.heads.common`; the
family registry ``DECODERS`` and :func:`identify_family`: :mod:`adas.detect.heads.families`;
each family's standard input preprocessing: :mod:`adas.detect.heads.preprocessing`.
"""

from adas.detect.heads.common import Decoder, RawDetections
from adas.detect.heads.families import DECODERS, identify_family

__all__ = ["DECODERS", "Decoder", "RawDetections", "identify_family"]
