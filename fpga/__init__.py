"""FPGA preprocessing: the HLS kernel (``fpga/hls``), its C simulation with g++ (:mod:`fpga.csim`)
and the bit-level specification both follow (``fpga/spec.md``)."""
