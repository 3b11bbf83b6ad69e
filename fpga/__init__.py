"""FPGA preprocessing: the bit-level spec (``fpga/spec.md``), the Vitis HLS kernel
(``fpga/hls``), its interface (:mod:`fpga.layout`), its C simulation with g++
(:mod:`fpga.kernel_build`, :mod:`fpga.csim`), the PYNQ driver (:mod:`fpga.driver`) and the
``fpga`` preprocessing backend (:mod:`fpga.backend`, registered with ``adas.preprocess``
through the entry point group ``adas.preprocess_backends``).

``pynq`` is an optional extra (``pip install .[fpga]``) in an environment of its own, because
it pins numpy < 2; nothing here imports it at module level.
"""
