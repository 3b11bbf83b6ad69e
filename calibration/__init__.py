"""Camera calibration: ChArUco and chessboard boards, stereo and multi-camera rigs.

Nothing is implemented yet beyond the command's entry point; the runtime reads calibrations
through :mod:`adas.camera` (OpenCV YAML, ROS camera_info YAML, KITTI calib files).
"""
