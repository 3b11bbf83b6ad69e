"""Each family's standard preprocessing: what a model of the family is fed when no card or
registry entry says otherwise (:mod:`adas.detect.cards`).

Keys per family: ``channel_order`` ("bgr"/"rgb"), ``resize`` ("letterbox"/"stretch"),
``align`` ("center"/"top-left"), ``pad_value`` (0-255), ``mean`` and ``std`` (per channel, in
channel order, on 0-255 pixels: tensor = (pixel - mean) / std), ``source``, and where a
family's scores are not comparable with others', ``min_score`` (the floor under the config's
per-class thresholds).
"""

from __future__ import annotations

from typing import Any

_ULTRALYTICS: dict[str, Any] = {
    "channel_order": "rgb",
    "resize": "letterbox",
    "align": "center",
    "pad_value": 114,
    "mean": (0.0, 0.0, 0.0),
    "std": (255.0, 255.0, 255.0),
    "source": "ultralytics LetterBox (centre, 114) and /255, RGB",
}
_NANODET: dict[str, Any] = {
    "channel_order": "bgr",
    "resize": "stretch",
    "align": "top-left",
    "pad_value": 0,
    "mean": (103.53, 116.28, 123.675),
    "std": (57.375, 57.12, 58.395),
    "source": "RangiLyu/nanodet config/*.yml: pipeline normalize (BGR), keep_ratio False",
}

FAMILY_PREPROCESSING: dict[str, dict[str, Any]] = {
    "yolox": {
        "channel_order": "bgr",
        "resize": "letterbox",
        "align": "top-left",
        "pad_value": 114,
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
        "source": "Megvii YOLOX yolox/data/data_augment.py preproc: top-left pad 114, 0-255",
    },
    "yolov5": _ULTRALYTICS,
    "yolov8": _ULTRALYTICS,
    "nms": _ULTRALYTICS,
    "nanodet": _NANODET,
    "nanodet_plus": _NANODET,
    "fastestdet": {
        "channel_order": "bgr",
        "resize": "stretch",
        "align": "top-left",
        "pad_value": 0,
        "mean": (0.0, 0.0, 0.0),
        "std": (255.0, 255.0, 255.0),
        # Its score obj^0.6 * cls^0.4 runs high: upstream example thresh 0.65; 0.6 measured on
        # KITTI object + Udacity stills (the registry entry's floor).
        "min_score": 0.6,
        "source": "dog-qiuqiu/FastestDet example/onnx-runtime/runtime.py: cv2.resize, /255",
    },
}
