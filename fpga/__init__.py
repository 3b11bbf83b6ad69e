"""FPGA preprocessing: the bit-level spec (``fpga/spec.md``), the Vitis HLS kernel
(``fpga/hls``), its C simulation with g++ (:mod:`fpga.csim`) and the PYNQ driver.

``pynq`` is an optional extra (``pip install .[fpga]``) in an environment of its own, because
it pins numpy < 2; nothing here imports it at module level.
"""
