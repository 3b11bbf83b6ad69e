"""Object detection: ONNX sessions, output decoders, class mapping and NMS."""
