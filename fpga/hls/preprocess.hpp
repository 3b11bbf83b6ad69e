// Preprocessing kernel (camera frame -> CNN input tensor), Vitis HLS C++ that also builds
// with plain g++ -std=c++17 for C simulation. The arithmetic is fixed bit for bit by
// fpga/spec.md; the golden model is adas/preprocess_kernels.py (backend "reference").
//
// Interface (spec §9): the host sends the configuration, the x and y resize tables (§5.1,
// one packed 64-bit word per entry, see pack_table_entry) and the C x 256 look-up table of
// §7 as 32-bit words (float32 bits for a float32 tensor, the byte value for a uint8 tensor).
#pragma once

#include <cstdint>

#ifndef PIXELS_PER_CLOCK
#define PIXELS_PER_CLOCK 1
#endif
static_assert(PIXELS_PER_CLOCK == 1 || PIXELS_PER_CLOCK == 2 || PIXELS_PER_CLOCK == 4,
              "PIXELS_PER_CLOCK must be 1, 2 or 4");

namespace pp {

// Pixels every per-pixel loop handles per clock (lanes of one loop iteration).
constexpr int PPC = PIXELS_PER_CLOCK;

// Static buffer sizes: the configuration ranges of spec §1.
constexpr int MAX_IN_SIDE = 16384;  // ROI width / height, source table indices (14 bits)
constexpr int MAX_OUT_SIDE = 4096;  // tensor width / height, content width / height

// Input layouts; the same codes as adas.preprocess_kernels (FMT_*). RGB8 is FMT_BGR3 with a
// reversed channel map (cmap), exactly as in the golden model.
enum Format : int { FMT_BGR3 = 0, FMT_GRAY = 1, FMT_YUYV = 2, FMT_BAYER_RGGB = 3 };

// Packed resize-table entry (spec §5.1): i0 in bits 0..13, i1 in bits 14..27, w1 in 28..36.
constexpr int TAB_INDEX_BITS = 14;
constexpr int TAB_WEIGHT_BITS = 9;
constexpr uint64_t TAB_INDEX_MASK = (uint64_t{1} << TAB_INDEX_BITS) - 1;
constexpr uint64_t TAB_WEIGHT_MASK = (uint64_t{1} << TAB_WEIGHT_BITS) - 1;

constexpr uint64_t pack_table_entry(uint32_t i0, uint32_t i1, uint32_t w1) {
  return uint64_t{i0} | (uint64_t{i1} << TAB_INDEX_BITS) |
         (uint64_t{w1} << (2 * TAB_INDEX_BITS));
}

// Dataflow stages, in order; indices of the C-simulation cycle counters.
enum Stage : int {
  STAGE_READ = 0,     // source rows from memory
  STAGE_CONVERT = 1,  // colour conversion / demosaic
  STAGE_HPASS = 2,    // horizontal resize pass
  STAGE_VPASS = 3,    // vertical resize pass
  STAGE_WRITE = 4,    // look-up table and tensor write
  N_STAGES = 5,
};

}  // namespace pp

// The HLS top function (synthesised as one kernel with m_axi and s_axilite ports).
// src: frame bytes, row r at src + r * src_stride; xtab: cw entries; ytab: ch entries;
// lut: n_planes x 256 words; dst32 (float32 tensor as bits) or dst8 (uint8 tensor), chosen
// by out_u8, shape n_planes x out_h x out_w. The configuration must be valid (spec §1):
// adas_preprocess_run checks it before calling this in C simulation.
void preprocess_top(const uint8_t* src, const uint64_t* xtab, const uint64_t* ytab,
                    const uint32_t* lut, uint32_t* dst32, uint8_t* dst8, int src_stride, int fmt,
                    int roi_x, int roi_y, int roi_w, int roi_h, int out_w, int out_h, int cw,
                    int ch, int pad_x, int pad_y, int pad_value, int n_planes, int cmap0,
                    int cmap1, int cmap2, int out_u8);

extern "C" {

// C-ABI entry point for ctypes and the testbench (C simulation only). Validates the
// configuration against the frame size, runs preprocess_top and stores the modelled frame
// cycle count in *cycles and the five per-stage counts in stage_cycles (either may be null).
// dst is a float32 tensor (out_u8 == 0) or a uint8 tensor (out_u8 != 0).
// Returns 0 on success, otherwise a negative code (adas_preprocess_strerror explains it).
// Not thread-safe across threads sharing a call (the counters are thread-local).
int adas_preprocess_run(const uint8_t* src, int in_w, int in_h, int src_stride, int fmt,
                        int roi_x, int roi_y, int roi_w, int roi_h, int out_w, int out_h,
                        int cw, int ch, int pad_x, int pad_y, int pad_value, int n_planes,
                        const int* cmap, const uint64_t* xtab, const uint64_t* ytab,
                        const uint32_t* lut, int out_u8, void* dst, uint64_t* cycles,
                        uint64_t* stage_cycles);

// Text of an error code of adas_preprocess_run.
const char* adas_preprocess_strerror(int code);

// PIXELS_PER_CLOCK this library was compiled with.
int adas_preprocess_ppc(void);
}
