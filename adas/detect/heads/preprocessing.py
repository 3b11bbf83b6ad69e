"""Each decoder family's standard input preprocessing, for a model no registry card describes.

``FAMILY_PREPROCESSING[family]`` has the keys of a model card (data/models.toml):
``channel_order`` ("bgr" / "rgb"), ``resize`` ("letterbox" keeps the aspect ratio and pads,
"stretch" does not), ``align`` (letterbox placement, "center" or "top-left"), ``pad_value``
(0-255, before normalisation), ``mean`` and ``std`` (per tensor channel, in ``channel_order``,
on 0-255 pixels: tensor = (pixel - mean) / std), and ``source``: where upstream states them.
For stretch families ``align`` and ``pad_value`` are unused and given as "top-left" and 0.
Where a family's scores are not comparable with other families', ``min_score`` is the floor
under the config's per-class thresholds (FastestDet).

Disagreements between an upstream config and the sample code people export with are noted in
the ``source`` text; the table follows the training config.
"""

from __future__ import annotations

from typing import Any

_IMAGENET_BGR_MEAN = [103.53, 116.28, 123.675]  # ImageNet mean * 255, B, G, R
_IMAGENET_BGR_STD = [57.375, 57.12, 58.395]
_IMAGENET_RGB_MEAN = _IMAGENET_BGR_MEAN[::-1]
_IMAGENET_RGB_STD = _IMAGENET_BGR_STD[::-1]
_ZERO = [0.0, 0.0, 0.0]
_UNIT = [1.0, 1.0, 1.0]
_BYTE = [255.0, 255.0, 255.0]


def _ultralytics_like(source: str) -> dict[str, Any]:
    """RGB / 255, letterbox centred with grey 114: every Ultralytics-style YOLO."""
    return {
        "channel_order": "rgb",
        "resize": "letterbox",
        "align": "center",
        "pad_value": 114,
        "mean": list(_ZERO),
        "std": list(_BYTE),
        "source": source,
    }


def _stretch(order: str, mean: list[float], std: list[float], source: str) -> dict[str, Any]:
    return {
        "channel_order": order,
        "resize": "stretch",
        "align": "top-left",
        "pad_value": 0,
        "mean": list(mean),
        "std": list(std),
        "source": source,
    }


FAMILY_PREPROCESSING: dict[str, dict[str, Any]] = {
    "yolox": {
        "channel_order": "bgr",
        "resize": "letterbox",
        "align": "top-left",
        "pad_value": 114,
        "mean": list(_ZERO),
        "std": list(_UNIT),
        "source": "Megvii-BaseDetection/YOLOX yolox/data/data_augment.py preproc (pad 114 at the "
        "top-left, BGR 0-255 since 0.1.1rc0 / legacy=False)",
    },
    "yolov5": _ultralytics_like(
        "ultralytics/yolov5 utils/augmentations.py letterbox (114, centred); detect.py "
        "BGR->RGB, /255. YOLOv7 (WongKinYiu/yolov7 utils/datasets.py letterbox) the same"
    ),
    "yolov6": _ultralytics_like(
        "meituan/YOLOv6 yolov6/data/data_augment.py letterbox (114, centred); "
        "yolov6/core/inferer.py precess_image: BGR->RGB, /255"
    ),
    "yolov8": _ultralytics_like(
        "ultralytics/ultralytics ultralytics/data/augment.py LetterBox (114, centre); "
        "engine/predictor.py preprocess: BGR->RGB, /255 (YOLOv8, YOLO11)"
    ),
    "nanodet": _stretch(
        "bgr",
        _IMAGENET_BGR_MEAN,
        _IMAGENET_BGR_STD,
        "RangiLyu/nanodet config/legacy_v0.x_configs/nanodet-m.yml normalize (BGR); stretch as "
        "in Kazuhito00/NanoDet-ONNX-Sample (data/models.toml nanodet_m_320)",
    ),
    "nanodet_plus": _stretch(
        "bgr",
        _IMAGENET_BGR_MEAN,
        _IMAGENET_BGR_STD,
        "RangiLyu/nanodet config/nanodet-plus-m_320.yml: keep_ratio False, normalize (BGR)",
    ),
    "picodet": _stretch(
        "rgb",
        _IMAGENET_RGB_MEAN,
        _IMAGENET_RGB_STD,
        "PaddlePaddle/PaddleDetection configs/picodet/_base_/picodet_320_reader.yml: Decode "
        "(RGB), Resize keep_ratio False, NormalizeImage ImageNet mean/std. The ONNX samples "
        "(deploy/third_engine demos, hpc203/picodet-onnxruntime) feed BGR with the same "
        "statistics in BGR order, i.e. only the channel order differs",
    ),
    "fastestdet": {
        **_stretch(
            "bgr",
            _ZERO,
            _BYTE,
            "dog-qiuqiu/FastestDet example/onnx-runtime/runtime.py: cv2.resize, /255 (BGR)",
        ),
        # Its score obj^0.6 * cls^0.4 runs high: upstream example thresh 0.65; 0.6 measured on
        # KITTI object + Udacity stills (the registry entry's floor under the config's
        # per-class thresholds).
        "min_score": 0.6,
    },
    "rtdetr": _stretch(
        "rgb",
        _ZERO,
        _BYTE,
        "lyuwenyu/RT-DETR rtdetrv2_pytorch/references/deploy/rtdetrv2_onnxruntime.py: PIL RGB, "
        "Resize (stretch), ToTensor /255; ultralytics RTDETRPredictor LetterBox scale_fill "
        "(stretch); Peterande/D-FINE the same",
    ),
    "nms": _ultralytics_like(
        "generic end-to-end graphs: as Ultralytics (YOLOv10, YOLOv8 end2end) — "
        "ultralytics/ultralytics ultralytics/data/augment.py LetterBox; a PaddleDetection "
        "graph with NMS wants the picodet entry instead"
    ),
}
