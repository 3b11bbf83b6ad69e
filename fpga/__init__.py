"""FPGA preprocessing: bit-level spec, HLS kernel, PYNQ driver and golden integer model.

Empty until the preprocessing issue; ``pynq`` is an optional extra (``pip install .[fpga]``,
in its own environment because it pins numpy < 2).
"""
