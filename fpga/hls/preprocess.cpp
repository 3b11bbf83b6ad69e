// Preprocessing kernel: crop, colour conversion, INTER_LINEAR_EXACT resize, letterbox, NCHW
// output through a look-up table, bit for bit as fpga/spec.md (golden model:
// adas/preprocess_kernels.py). Synthesisable with Vitis HLS; compiles with plain g++ for C
// simulation (-std=c++17 -Wno-unknown-pragmas; the HLS pragmas are ignored there).
//
// Structure (a DATAFLOW region of five processes joined by FIFOs):
//
//   read_rows --raw--> convert --bgr--> hpass --H--> vpass --V--> lut_write
//       \--ctl--------> (forwarded with the data) --------------->/
//
// * read_rows walks the y table (spec §5.1) once per content row, decides which source rows
//   are new (not already in one of the two vertical line-buffer slots: upscaling reuses rows,
//   spec §9) and bursts exactly those ROI rows from memory (Bayer: the 3 raw rows the
//   demosaic of that row reads, spec §4.4). One control word per content row tells every
//   later stage how many rows follow and where they go.
// * convert turns raw pixels into B, G, R (or the stored bytes, spec §4.1-4.4). It converts
//   whole ROI rows: the per-pixel conversion is a pure function, so converting more pixels
//   than the resize reads changes no output byte.
// * hpass keeps the converted row in a line buffer and emits, per content column, the
//   unrounded Q8 horizontal sum H (spec §5.2) as soon as both taps have arrived.
// * vpass stores H rows in two slots and emits V (spec §5.3) per content column.
// * lut_write assembles each output row (pad or content), maps it through the LUT and
//   writes the n_planes plane rows (spec §7).
//
// Every per-pixel loop handles PPC = PIXELS_PER_CLOCK pixels per iteration (unrolled lanes)
// with II=1; FIFO elements are beats of PPC pixels.
//
// Cycle model (C simulation only, see pp_csim below): a pipelined loop of N iterations at
// II=1 costs N + its pipeline depth; per-pixel loops run ceil(pixels / PPC) iterations,
// table loads one entry per iteration. Each stage sums its loops; dataflow stages overlap,
// so a frame costs the slowest stage plus the fill (the sum of the stage pipeline depths,
// the first beat crossing every stage once). Control code between loops is free in this
// model. The depths are estimates of the pipelines HLS would build, not synthesis results.

#include "preprocess.hpp"

#include <cstddef>
#include <exception>

#include "shim/stream.hpp"

namespace pp {
namespace {

// Pipeline depth estimates per loop kind (cycles from first input to first output).
constexpr int DEPTH_LOAD = 3;     // table load: AXI read latency + register
constexpr int DEPTH_READ = 8;     // AXI burst read of a row
constexpr int DEPTH_CONVERT = 6;  // YUV: multiply, add, shift, clamp (the longest format)
constexpr int DEPTH_HPASS = 4;    // two BRAM reads, two multiplies, add
constexpr int DEPTH_VPASS = 5;    // two BRAM reads, two multiplies, add, round shift
constexpr int DEPTH_WRITE = 4;    // BRAM read, LUT read, AXI write
constexpr int FILL_CYCLES =
    DEPTH_READ + DEPTH_CONVERT + DEPTH_HPASS + DEPTH_VPASS + DEPTH_WRITE;

// Fixed point constants of spec §4.2 and §5.
constexpr int32_t YUV_CY = 1220542;
constexpr int32_t YUV_CUB = 2116026;
constexpr int32_t YUV_CUG = -409993;
constexpr int32_t YUV_CVG = -852492;
constexpr int32_t YUV_CVR = 1673527;
constexpr int YUV_SHIFT = 20;
constexpr uint32_t WEIGHT_ONE = 256;     // Q0.8 weight of a single tap
constexpr uint32_t ROUND_V = 1u << 15;  // rounding of the Q16 vertical sum
constexpr int V_SHIFT = 16;

}  // namespace
}  // namespace pp

// ---- C-simulation cycle counters -------------------------------------------------------
#ifndef __SYNTHESIS__
namespace pp_csim {
// Cycles per dataflow stage of the current call (thread-local: one call per thread).
thread_local uint64_t stage_cycles[pp::N_STAGES];
}  // namespace pp_csim
// One execution of a pipelined loop: `iterations` at II=1 plus the pipeline depth.
#define PP_LOOP_COST(stage, iterations, depth) \
  (pp_csim::stage_cycles[(stage)] += uint64_t(iterations) + uint64_t(depth))
#else
#define PP_LOOP_COST(stage, iterations, depth) ((void)0)
#endif

namespace pp {
namespace {

// PPC consecutive pixels of one row, up to 3 bytes each (raw or converted B, G, R).
struct PixBeat {
  uint8_t px[PPC][3];
};

// PPC horizontal sums (spec §5.2, at most 65280: 16 bits) per channel.
struct HBeat {
  uint16_t h[PPC][3];
};

// PPC output bytes (spec §5.3) per converted channel.
struct VBeat {
  uint8_t v[PPC][3];
};

// Per content row: the source rows that must be fetched (in this order, into these
// vertical slots) and where the two taps of the row are.
struct RowCtl {
  uint8_t n_new;         // 0, 1 or 2 new source rows follow in every data FIFO
  uint8_t slot_new[2];   // vertical slot each new row is stored in
  uint16_t row_new[2];   // ROI row index of each new row
  uint8_t slot0;         // slot of tap i0y
  uint8_t slot1;         // slot of tap i1y (== slot0 when w1y == 0: not read)
  uint16_t wy;           // w1y, 0 .. 256
};

struct TabEntry {
  int i0;
  int i1;
  int w1;
};

inline TabEntry unpack_table_entry(uint64_t word) {
  TabEntry e;
  e.i0 = static_cast<int>(word & TAB_INDEX_MASK);
  e.i1 = static_cast<int>((word >> TAB_INDEX_BITS) & TAB_INDEX_MASK);
  e.w1 = static_cast<int>((word >> (2 * TAB_INDEX_BITS)) & TAB_WEIGHT_MASK);
  return e;
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }
inline int clampi(int v, int lo, int hi) { return imin(imax(v, lo), hi); }

inline int bytes_per_pixel(int fmt) {
  return fmt == FMT_BGR3 ? 3 : (fmt == FMT_YUYV ? 2 : 1);
}

// ---- stage 1: read rows ---------------------------------------------------------------

// Burst one ROI row (frame row `frame_row`) into the raw FIFO as PPC-pixel beats. Raw pixel
// bytes: BGR3 the 3 stored bytes; GRAY / Bayer the byte; YUYV the pixel's Y and its pair's
// U and V (spec §2; roi_x is even, so ROI pixel pairs are frame pixel pairs).
void read_row(const uint8_t* src, int src_stride, int fmt, int roi_x, int frame_row,
              int roi_w, pp_shim::stream<PixBeat>& raw) {
  const uint64_t base = uint64_t(frame_row) * uint64_t(src_stride) +
                        uint64_t(roi_x) * uint64_t(bytes_per_pixel(fmt));
  const int beats = ceil_div(roi_w, PPC);
read_beats:
  for (int b = 0; b < beats; ++b) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16384
    PixBeat beat = {};
    for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
      const int x = b * PPC + l;
      if (x >= roi_w) continue;
      if (fmt == FMT_BGR3) {
        const uint64_t a = base + 3 * uint64_t(x);
        beat.px[l][0] = src[a];
        beat.px[l][1] = src[a + 1];
        beat.px[l][2] = src[a + 2];
      } else if (fmt == FMT_YUYV) {
        const uint64_t pair = base + 4 * uint64_t(x >> 1);
        beat.px[l][0] = src[base + 2 * uint64_t(x)];  // Y of pixel x
        beat.px[l][1] = src[pair + 1];                // U of its pair
        beat.px[l][2] = src[pair + 3];                // V of its pair
      } else {
        beat.px[l][0] = src[base + uint64_t(x)];
      }
    }
    raw.write(beat);
  }
  PP_LOOP_COST(STAGE_READ, beats, DEPTH_READ);
}

// Walk the y table, plan the vertical line-buffer slots and fetch the new source rows.
// Slot policy: a needed row already held is reused; a missing row takes a slot no needed
// row occupies, the one holding the lower (older) row when both are free. The tables are
// monotonic, so an evicted row is not needed again; correctness does not depend on it
// (a missing row is always fetched).
void read_rows(const uint8_t* src, const uint64_t* ytab, int src_stride, int fmt, int roi_x,
               int roi_y, int roi_w, int roi_h, int ch, pp_shim::stream<PixBeat>& raw,
               pp_shim::stream<RowCtl>& ctl_out) {
  int held[2] = {-1, -1};  // ROI row in each vertical slot
content_rows:
  for (int cy = 0; cy < ch; ++cy) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const TabEntry t = unpack_table_entry(ytab[cy]);
    PP_LOOP_COST(STAGE_READ, 1, 0);  // the table word: one read per content row
    // A zero weight never reads the second row (spec §5.3, OpenCV border rows).
    const int n_need = t.w1 != 0 ? 2 : 1;
    const int need[2] = {t.i0, t.i1};
    int slot[2] = {-1, -1};
    bool used[2] = {false, false};
    for (int k = 0; k < n_need; ++k) {
      if (held[0] == need[k]) slot[k] = 0;
      else if (held[1] == need[k]) slot[k] = 1;
      if (slot[k] >= 0) used[slot[k]] = true;
    }
    RowCtl ctl = {};
    ctl.wy = static_cast<uint16_t>(t.w1);
    for (int k = 0; k < n_need; ++k) {
      if (slot[k] >= 0) continue;
      int s;
      if (used[0]) s = 1;
      else if (used[1]) s = 0;
      else s = held[0] <= held[1] ? 0 : 1;
      used[s] = true;
      slot[k] = s;
      held[s] = need[k];
      ctl.slot_new[ctl.n_new] = static_cast<uint8_t>(s);
      ctl.row_new[ctl.n_new] = static_cast<uint16_t>(need[k]);
      ++ctl.n_new;
    }
    ctl.slot0 = static_cast<uint8_t>(slot[0]);
    ctl.slot1 = static_cast<uint8_t>(n_need == 2 ? slot[1] : slot[0]);
    ctl_out.write(ctl);
    for (int k = 0; k < ctl.n_new; ++k) {
      const int r = ctl.row_new[k];
      if (fmt == FMT_BAYER_RGGB) {
        // Demosaic of ROI row r reads rows yc-1 .. yc+1, yc clamped into the interior
        // (spec §4.4: the outer ring copies its inner neighbour; ROI edges, not frame edges).
        const int yc = clampi(r, 1, roi_h - 2);
        for (int dy = -1; dy <= 1; ++dy) {
          read_row(src, src_stride, fmt, roi_x, roi_y + yc + dy, roi_w, raw);
        }
      } else {
        read_row(src, src_stride, fmt, roi_x, roi_y + r, roi_w, raw);
      }
    }
  }
}

// ---- stage 2: colour conversion --------------------------------------------------------

inline uint8_t clamp_u8(int32_t v) {
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// BT.601 limited range YUV -> B, G, R in Q20 (spec §4.2). Every intermediate fits in int32;
// >> of a negative int32 is arithmetic (guaranteed since C++20, and by g++ / HLS before).
inline void yuv_to_bgr(int y, int u, int v, uint8_t bgr[3]) {
  const int32_t yy = int32_t(y > 16 ? y - 16 : 0) * YUV_CY + (int32_t{1} << (YUV_SHIFT - 1));
  const int32_t uu = u - 128;
  const int32_t vv = v - 128;
  bgr[0] = clamp_u8((yy + YUV_CUB * uu) >> YUV_SHIFT);
  bgr[1] = clamp_u8((yy + YUV_CVG * vv + YUV_CUG * uu) >> YUV_SHIFT);
  bgr[2] = clamp_u8((yy + YUV_CVR * vv) >> YUV_SHIFT);
}

// Bilinear demosaic of ROI pixel (x, yc) of an RGGB frame (spec §4.3-4.4). up / mid / dn are
// ROI rows yc-1, yc, yc+1 (yc already clamped into the interior); the site colour is taken
// at the clamped position in frame coordinates (a crop does not move the mosaic).
inline void bayer_to_bgr(const uint8_t* up, const uint8_t* mid, const uint8_t* dn, int x,
                         int roi_w, int frame_x0, int frame_y, uint8_t bgr[3]) {
  const int xc = clampi(x, 1, roi_w - 2);
  const int fx = (frame_x0 + xc) & 1;
  const int fy = frame_y & 1;
  const int c = mid[xc];
  if (fx == fy) {  // R site (even row) or B site (odd row)
    const int cross = (up[xc] + dn[xc] + mid[xc - 1] + mid[xc + 1] + 2) >> 2;
    const int diag = (up[xc - 1] + up[xc + 1] + dn[xc - 1] + dn[xc + 1] + 2) >> 2;
    bgr[0] = static_cast<uint8_t>(fy == 0 ? diag : c);
    bgr[1] = static_cast<uint8_t>(cross);
    bgr[2] = static_cast<uint8_t>(fy == 0 ? c : diag);
  } else {  // G site: red row (even) has R left / right, blue row (odd) has B left / right
    const int hor = (mid[xc - 1] + mid[xc + 1] + 1) >> 1;
    const int ver = (up[xc] + dn[xc] + 1) >> 1;
    bgr[0] = static_cast<uint8_t>(fy == 0 ? ver : hor);
    bgr[1] = static_cast<uint8_t>(c);
    bgr[2] = static_cast<uint8_t>(fy == 0 ? hor : ver);
  }
}

// Store one raw beat into a row buffer (lanes past the row end are padding).
inline void store_beat(uint8_t* row, const PixBeat& beat, int x0, int width) {
  for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
    if (x0 + l < width) row[x0 + l] = beat.px[l][0];
  }
}

// One Bayer row: rows up and mid go into line buffers, then the down row streams in while
// converted beats go out as soon as the columns they read (up to xc + 1) have arrived.
void bayer_row(pp_shim::stream<PixBeat>& raw, pp_shim::stream<PixBeat>& bgr, int roi_x,
               int roi_y, int roi_w, int roi_h, int r) {
  uint8_t lines[3][MAX_IN_SIDE];
#pragma HLS ARRAY_PARTITION variable = lines complete dim = 1
#pragma HLS ARRAY_PARTITION variable = lines cyclic factor = 4 dim = 2
  const int beats = ceil_div(roi_w, PPC);
  const int yc = clampi(r, 1, roi_h - 2);
  for (int k = 0; k < 2; ++k) {
  bayer_load:
    for (int b = 0; b < beats; ++b) {
#pragma HLS PIPELINE II = 1
      store_beat(lines[k], raw.read(), b * PPC, roi_w);
    }
    PP_LOOP_COST(STAGE_CONVERT, beats, DEPTH_CONVERT);
  }
  int received = 0;  // columns of the down row in the buffer
  int emitted = 0;   // output beats written
  int iterations = 0;
bayer_stream:
  while (received < roi_w || emitted < beats) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16385
    if (received < roi_w) {
      store_beat(lines[2], raw.read(), received, roi_w);
      received = imin(received + PPC, roi_w);
    }
    if (emitted < beats) {
      const int last = imin((emitted + 1) * PPC, roi_w) - 1;
      const int rightmost = clampi(last, 1, roi_w - 2) + 1;  // last column the beat reads
      if (rightmost < received) {
        PixBeat out = {};
        for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
          const int x = emitted * PPC + l;
          if (x < roi_w) {
            bayer_to_bgr(lines[0], lines[1], lines[2], x, roi_w, roi_x, roi_y + yc, out.px[l]);
          }
        }
        bgr.write(out);
        ++emitted;
      }
    }
    ++iterations;
  }
  PP_LOOP_COST(STAGE_CONVERT, iterations, DEPTH_CONVERT);
}

void convert(pp_shim::stream<PixBeat>& raw, pp_shim::stream<RowCtl>& ctl_in,
             pp_shim::stream<PixBeat>& bgr, pp_shim::stream<RowCtl>& ctl_out, int fmt, int roi_x,
             int roi_y, int roi_w, int roi_h, int ch) {
  const int beats = ceil_div(roi_w, PPC);
content_rows:
  for (int cy = 0; cy < ch; ++cy) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const RowCtl ctl = ctl_in.read();
    ctl_out.write(ctl);
    for (int k = 0; k < ctl.n_new; ++k) {
      if (fmt == FMT_BAYER_RGGB) {
        bayer_row(raw, bgr, roi_x, roi_y, roi_w, roi_h, ctl.row_new[k]);
        continue;
      }
    convert_beats:
      for (int b = 0; b < beats; ++b) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16384
        const PixBeat in = raw.read();
        PixBeat out = in;  // BGR3 and GRAY: the converted channels are the stored bytes
        if (fmt == FMT_YUYV) {
          for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
            yuv_to_bgr(in.px[l][0], in.px[l][1], in.px[l][2], out.px[l]);
          }
        }
        bgr.write(out);
      }
      PP_LOOP_COST(STAGE_CONVERT, beats, DEPTH_CONVERT);
    }
  }
}

// ---- stage 3: horizontal pass ----------------------------------------------------------

// Per new source row: the converted row streams into a line buffer; the H beat of content
// columns j .. j+PPC-1 goes out in the same loop once its rightmost tap i1 has arrived
// (tables are monotonic, but the lane maximum is taken anyway). Trip count per row is about
// max(roi_w, cw) / PPC. The x table sits in local memory for the whole frame.
void hpass(pp_shim::stream<PixBeat>& bgr, pp_shim::stream<RowCtl>& ctl_in,
           const uint64_t* xtab, pp_shim::stream<HBeat>& hout,
           pp_shim::stream<RowCtl>& ctl_out, int n_src, int roi_w, int cw, int ch) {
  uint16_t xi0[MAX_OUT_SIDE];
  uint16_t xi1[MAX_OUT_SIDE];
  uint16_t xw1[MAX_OUT_SIDE];
#pragma HLS ARRAY_PARTITION variable = xi0 cyclic factor = 4
#pragma HLS ARRAY_PARTITION variable = xi1 cyclic factor = 4
#pragma HLS ARRAY_PARTITION variable = xw1 cyclic factor = 4
load_xtab:
  for (int j = 0; j < cw; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const TabEntry e = unpack_table_entry(xtab[j]);
    xi0[j] = static_cast<uint16_t>(e.i0);
    xi1[j] = static_cast<uint16_t>(e.i1);
    xw1[j] = static_cast<uint16_t>(e.w1);
  }
  PP_LOOP_COST(STAGE_HPASS, cw, DEPTH_LOAD);

  // Two taps x PPC lanes read per clock: in hardware this buffer is replicated per lane
  // and tap (2 x PPC copies, each written in parallel), shown here as one array.
  uint8_t line[3][MAX_IN_SIDE];
#pragma HLS ARRAY_PARTITION variable = line complete dim = 1
  const int out_beats = ceil_div(cw, PPC);
content_rows:
  for (int cy = 0; cy < ch; ++cy) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const RowCtl ctl = ctl_in.read();
    ctl_out.write(ctl);
    for (int k = 0; k < ctl.n_new; ++k) {
      int received = 0;
      int emitted = 0;
      int iterations = 0;
    hpass_stream:
      while (received < roi_w || emitted < out_beats) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16385
        if (received < roi_w) {
          const PixBeat beat = bgr.read();
          for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
            const int x = received + l;
            if (x < roi_w) {
              for (int s = 0; s < 3; ++s) line[s][x] = beat.px[l][s];
            }
          }
          received = imin(received + PPC, roi_w);
        }
        if (emitted < out_beats) {
          int rightmost = 0;
          for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
            const int j = emitted * PPC + l;
            if (j < cw) rightmost = imax(rightmost, xi1[j]);
          }
          if (rightmost < received) {
            HBeat hb = {};
            for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
              const int j = emitted * PPC + l;
              if (j >= cw) continue;
              const uint32_t w1 = xw1[j];
              const uint32_t w0 = WEIGHT_ONE - w1;
              for (int s = 0; s < n_src; ++s) {
                hb.h[l][s] = static_cast<uint16_t>(w0 * line[s][xi0[j]] + w1 * line[s][xi1[j]]);
              }
            }
            hout.write(hb);
            ++emitted;
          }
        }
        ++iterations;
      }
      PP_LOOP_COST(STAGE_HPASS, iterations, DEPTH_HPASS);
    }
  }
}

// ---- stage 4: vertical pass ------------------------------------------------------------

// Two slots of H rows (spec §9: consecutive content rows may share source rows). Per
// content row the new H rows stream into their slots; V beats go out while the last new
// row streams in (or from the slots alone when the row needs nothing new).
void vpass(pp_shim::stream<HBeat>& hin, pp_shim::stream<RowCtl>& ctl_in,
           pp_shim::stream<VBeat>& vout, int n_src, int cw, int ch) {
  uint16_t slots[2][3][MAX_OUT_SIDE];
#pragma HLS ARRAY_PARTITION variable = slots complete dim = 1
#pragma HLS ARRAY_PARTITION variable = slots complete dim = 2
#pragma HLS ARRAY_PARTITION variable = slots cyclic factor = 4 dim = 3
  const int beats = ceil_div(cw, PPC);
content_rows:
  for (int cy = 0; cy < ch; ++cy) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const RowCtl ctl = ctl_in.read();
    const uint32_t w1 = ctl.wy;
    const uint32_t w0 = WEIGHT_ONE - w1;
    const int passes = ctl.n_new > 0 ? ctl.n_new : 1;
    for (int k = 0; k < passes; ++k) {
      const bool receive = ctl.n_new > 0;
      const bool emit = k == passes - 1;
    vpass_beats:
      for (int e = 0; e < beats; ++e) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
        if (receive) {
          const HBeat hb = hin.read();
          for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
            const int j = e * PPC + l;
            if (j >= cw) continue;
            for (int s = 0; s < n_src; ++s) slots[ctl.slot_new[k]][s][j] = hb.h[l][s];
          }
        }
        if (emit) {
          VBeat vb = {};
          for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
            const int j = e * PPC + l;
            if (j >= cw) continue;
            for (int s = 0; s < n_src; ++s) {
              const uint32_t h0 = slots[ctl.slot0][s][j];
              // w1y == 0: the second row is not read (it may not be in a slot at all).
              const uint32_t h1 = w1 != 0 ? slots[ctl.slot1][s][j] : 0;
              vb.v[l][s] = static_cast<uint8_t>((w0 * h0 + w1 * h1 + ROUND_V) >> V_SHIFT);
            }
          }
          vout.write(vb);
        }
      }
      PP_LOOP_COST(STAGE_VPASS, beats, DEPTH_VPASS);
    }
  }
}

// ---- stage 5: look-up table and write --------------------------------------------------

// Per output row: receive the content row (if the row has content), then write each plane
// row of out_w values: lut[c][v] of converted channel cmap[c] in the content, lut[c][pad]
// elsewhere (spec §6-7). Output plane-major (NCHW), one burst per plane row.
void lut_write(pp_shim::stream<VBeat>& vin, const uint32_t* lut, uint32_t* dst32,
               uint8_t* dst8, int out_w, int out_h, int cw, int ch, int pad_x, int pad_y,
               int pad_value, int n_planes, int cmap0, int cmap1, int cmap2, int out_u8) {
  // One LUT copy per lane: PPC independent reads per clock.
  uint32_t luts[PPC][3][256];
#pragma HLS ARRAY_PARTITION variable = luts complete dim = 1
#pragma HLS ARRAY_PARTITION variable = luts complete dim = 2
load_lut:
  for (int i = 0; i < n_planes * 256; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 256 max = 768
    const uint32_t word = lut[i];
    for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
      luts[l][i >> 8][i & 255] = word;
    }
  }
  PP_LOOP_COST(STAGE_WRITE, n_planes * 256, DEPTH_LOAD);

  const int cmap[3] = {cmap0, cmap1, cmap2};
  uint8_t row[3][MAX_OUT_SIDE];
#pragma HLS ARRAY_PARTITION variable = row complete dim = 1
#pragma HLS ARRAY_PARTITION variable = row cyclic factor = 4 dim = 2
  const int in_beats = ceil_div(cw, PPC);
  const int out_beats = ceil_div(out_w, PPC);
out_rows:
  for (int r = 0; r < out_h; ++r) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    const int cy = r - pad_y;
    const bool content = cy >= 0 && cy < ch;
    if (content) {
    receive_row:
      for (int e = 0; e < in_beats; ++e) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
        const VBeat vb = vin.read();
        for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
          const int j = e * PPC + l;
          if (j >= cw) continue;
          for (int s = 0; s < 3; ++s) row[s][j] = vb.v[l][s];
        }
      }
      PP_LOOP_COST(STAGE_WRITE, in_beats, DEPTH_WRITE);
    }
    for (int c = 0; c < n_planes; ++c) {
      const int s = cmap[c];
      const uint64_t base = (uint64_t(c) * uint64_t(out_h) + uint64_t(r)) * uint64_t(out_w);
    write_plane_row:
      for (int b = 0; b < out_beats; ++b) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
        for (int l = 0; l < PPC; ++l) {
#pragma HLS UNROLL
          const int x = b * PPC + l;
          if (x >= out_w) continue;
          const int j = x - pad_x;
          const bool inside = content && j >= 0 && j < cw;
          const uint32_t word = luts[l][c][inside ? row[s][j] : pad_value];
          if (out_u8) {
            dst8[base + uint64_t(x)] = static_cast<uint8_t>(word);
          } else {
            dst32[base + uint64_t(x)] = word;
          }
        }
      }
      PP_LOOP_COST(STAGE_WRITE, out_beats, DEPTH_WRITE);
    }
  }
}

}  // namespace
}  // namespace pp

void preprocess_top(const uint8_t* src, const uint64_t* xtab, const uint64_t* ytab,
                    const uint32_t* lut, uint32_t* dst32, uint8_t* dst8, int src_stride, int fmt,
                    int roi_x, int roi_y, int roi_w, int roi_h, int out_w, int out_h, int cw,
                    int ch, int pad_x, int pad_y, int pad_value, int n_planes, int cmap0,
                    int cmap1, int cmap2, int out_u8) {
#pragma HLS INTERFACE m_axi port = src offset = slave bundle = gmem_in max_widen_bitwidth = 128
#pragma HLS INTERFACE m_axi port = xtab offset = slave bundle = gmem_tab
#pragma HLS INTERFACE m_axi port = ytab offset = slave bundle = gmem_tab
#pragma HLS INTERFACE m_axi port = lut offset = slave bundle = gmem_tab
#pragma HLS INTERFACE m_axi port = dst32 offset = slave bundle = gmem_out max_widen_bitwidth = 128
#pragma HLS INTERFACE m_axi port = dst8 offset = slave bundle = gmem_out max_widen_bitwidth = 128
#pragma HLS INTERFACE s_axilite port = src_stride bundle = control
#pragma HLS INTERFACE s_axilite port = fmt bundle = control
#pragma HLS INTERFACE s_axilite port = roi_x bundle = control
#pragma HLS INTERFACE s_axilite port = roi_y bundle = control
#pragma HLS INTERFACE s_axilite port = roi_w bundle = control
#pragma HLS INTERFACE s_axilite port = roi_h bundle = control
#pragma HLS INTERFACE s_axilite port = out_w bundle = control
#pragma HLS INTERFACE s_axilite port = out_h bundle = control
#pragma HLS INTERFACE s_axilite port = cw bundle = control
#pragma HLS INTERFACE s_axilite port = ch bundle = control
#pragma HLS INTERFACE s_axilite port = pad_x bundle = control
#pragma HLS INTERFACE s_axilite port = pad_y bundle = control
#pragma HLS INTERFACE s_axilite port = pad_value bundle = control
#pragma HLS INTERFACE s_axilite port = n_planes bundle = control
#pragma HLS INTERFACE s_axilite port = cmap0 bundle = control
#pragma HLS INTERFACE s_axilite port = cmap1 bundle = control
#pragma HLS INTERFACE s_axilite port = cmap2 bundle = control
#pragma HLS INTERFACE s_axilite port = out_u8 bundle = control
#pragma HLS INTERFACE s_axilite port = return bundle = control
#pragma HLS DATAFLOW
  using namespace pp;
  // Converted channels per pixel: 1 for grey, else 3 (B, G, R or the stored byte order).
  const int n_src = fmt == FMT_GRAY ? 1 : 3;
  pp_shim::stream<PixBeat> raw("raw");
  pp_shim::stream<PixBeat> bgr("bgr");
  pp_shim::stream<HBeat> hsum("hsum");
  pp_shim::stream<VBeat> vsum("vsum");
  pp_shim::stream<RowCtl> ctl_read("ctl_read");
  pp_shim::stream<RowCtl> ctl_conv("ctl_conv");
  pp_shim::stream<RowCtl> ctl_h("ctl_h");
#pragma HLS STREAM variable = raw depth = 64
#pragma HLS STREAM variable = bgr depth = 64
#pragma HLS STREAM variable = hsum depth = 64
#pragma HLS STREAM variable = vsum depth = 64
#pragma HLS STREAM variable = ctl_read depth = 4
#pragma HLS STREAM variable = ctl_conv depth = 4
#pragma HLS STREAM variable = ctl_h depth = 4
  read_rows(src, ytab, src_stride, fmt, roi_x, roi_y, roi_w, roi_h, ch, raw, ctl_read);
  convert(raw, ctl_read, bgr, ctl_conv, fmt, roi_x, roi_y, roi_w, roi_h, ch);
  hpass(bgr, ctl_conv, xtab, hsum, ctl_h, n_src, roi_w, cw, ch);
  vpass(hsum, ctl_h, vsum, n_src, cw, ch);
  lut_write(vsum, lut, dst32, dst8, out_w, out_h, cw, ch, pad_x, pad_y, pad_value, n_planes,
            cmap0, cmap1, cmap2, out_u8);
}

// ---- C-ABI entry point (C simulation) ----------------------------------------------------
#ifndef __SYNTHESIS__

namespace {

enum ErrorCode : int {
  OK = 0,
  E_NULL = -1,
  E_FORMAT = -2,
  E_FRAME = -3,
  E_ROI = -4,
  E_OUTPUT = -5,
  E_CONTENT = -6,
  E_PLANES = -7,
  E_PAD = -8,
  E_TABLE = -9,
  E_LUT = -10,
  E_INTERNAL = -11,
};

// Every table entry in range: indices inside the source axis, weight 0 .. 256.
bool table_ok(const uint64_t* tab, int n, int src) {
  for (int j = 0; j < n; ++j) {
    const pp::TabEntry e = pp::unpack_table_entry(tab[j]);
    if (e.i0 >= src || e.i1 >= src || e.w1 > 256) return false;
    if ((tab[j] >> (2 * pp::TAB_INDEX_BITS + pp::TAB_WEIGHT_BITS)) != 0) return false;
  }
  return true;
}

// The configuration checks of spec §1 the kernel relies on (buffer sizes, in-frame reads).
int validate(const uint8_t* src, int in_w, int in_h, int src_stride, int fmt, int roi_x,
             int roi_y, int roi_w, int roi_h, int out_w, int out_h, int cw, int ch, int pad_x,
             int pad_y, int pad_value, int n_planes, const int* cmap, const uint64_t* xtab,
             const uint64_t* ytab, const uint32_t* lut, int out_u8, const void* dst) {
  using namespace pp;
  if (!src || !cmap || !xtab || !ytab || !lut || !dst) return E_NULL;
  if (fmt < FMT_BGR3 || fmt > FMT_BAYER_RGGB) return E_FORMAT;
  if (in_w < 1 || in_h < 1 || in_w > MAX_IN_SIDE || in_h > MAX_IN_SIDE) return E_FRAME;
  if (src_stride < in_w * bytes_per_pixel(fmt)) return E_FRAME;
  if (fmt == FMT_YUYV && in_w % 2 != 0) return E_FRAME;
  if (roi_x < 0 || roi_y < 0 || roi_w < 1 || roi_h < 1 || roi_x + roi_w > in_w ||
      roi_y + roi_h > in_h)
    return E_ROI;
  if (fmt == FMT_YUYV && (roi_x % 2 != 0 || roi_w % 2 != 0)) return E_ROI;
  if (fmt == FMT_BAYER_RGGB && (roi_w < 3 || roi_h < 3)) return E_ROI;
  if (out_w < 1 || out_h < 1 || out_w > MAX_OUT_SIDE || out_h > MAX_OUT_SIDE) return E_OUTPUT;
  if (cw < 1 || ch < 1 || pad_x < 0 || pad_y < 0 || pad_x + cw > out_w || pad_y + ch > out_h)
    return E_CONTENT;
  if (n_planes != 1 && n_planes != 3) return E_PLANES;
  if (n_planes == 1 && fmt != FMT_GRAY) return E_PLANES;
  for (int c = 0; c < n_planes; ++c) {
    if (cmap[c] < 0 || cmap[c] >= (fmt == FMT_GRAY ? 1 : 3)) return E_PLANES;
  }
  if (pad_value < 0 || pad_value > 255) return E_PAD;
  if (!table_ok(xtab, cw, roi_w) || !table_ok(ytab, ch, roi_h)) return E_TABLE;
  if (out_u8) {
    for (int i = 0; i < n_planes * 256; ++i) {
      if (lut[i] > 255) return E_LUT;
    }
  }
  return OK;
}

}  // namespace

extern "C" int adas_preprocess_run(const uint8_t* src, int in_w, int in_h, int src_stride,
                                   int fmt, int roi_x, int roi_y, int roi_w, int roi_h,
                                   int out_w, int out_h, int cw, int ch, int pad_x, int pad_y,
                                   int pad_value, int n_planes, const int* cmap,
                                   const uint64_t* xtab, const uint64_t* ytab,
                                   const uint32_t* lut, int out_u8, void* dst, uint64_t* cycles,
                                   uint64_t* stage_cycles) {
  const int err = validate(src, in_w, in_h, src_stride, fmt, roi_x, roi_y, roi_w, roi_h, out_w,
                           out_h, cw, ch, pad_x, pad_y, pad_value, n_planes, cmap, xtab, ytab,
                           lut, out_u8, dst);
  if (err != OK) return err;
  for (uint64_t& c : pp_csim::stage_cycles) c = 0;
  // Unused cmap entries (1-plane models) are passed as 0; the kernel never reads them.
  const int c1 = n_planes > 1 ? cmap[1] : 0;
  const int c2 = n_planes > 2 ? cmap[2] : 0;
  try {
    preprocess_top(src, xtab, ytab, lut, out_u8 ? nullptr : static_cast<uint32_t*>(dst),
                   out_u8 ? static_cast<uint8_t*>(dst) : nullptr, src_stride, fmt, roi_x, roi_y,
                   roi_w, roi_h, out_w, out_h, cw, ch, pad_x, pad_y, pad_value, n_planes, cmap[0],
                   c1, c2, out_u8);
  } catch (const std::exception&) {
    return E_INTERNAL;
  }
  uint64_t slowest = 0;
  for (int s = 0; s < pp::N_STAGES; ++s) {
    if (pp_csim::stage_cycles[s] > slowest) slowest = pp_csim::stage_cycles[s];
    if (stage_cycles) stage_cycles[s] = pp_csim::stage_cycles[s];
  }
  if (cycles) *cycles = slowest + pp::FILL_CYCLES;
  return OK;
}

extern "C" const char* adas_preprocess_strerror(int code) {
  switch (code) {
    case OK: return "ok";
    case E_NULL: return "a required pointer is null";
    case E_FORMAT: return "unknown input format code";
    case E_FRAME: return "bad frame size or stride (1..16384 px, stride >= row bytes, yuyv even)";
    case E_ROI: return "ROI outside the frame or illegal for the format (yuyv even x/w, bayer >= 3)";
    case E_OUTPUT: return "output size outside 1..4096";
    case E_CONTENT: return "content size / pad does not fit the output";
    case E_PLANES: return "bad plane count or channel map";
    case E_PAD: return "pad value outside 0..255";
    case E_TABLE: return "resize table entry out of range";
    case E_LUT: return "uint8 output with a LUT entry above 255";
    case E_INTERNAL: return "internal kernel error (FIFO underflow)";
    default: return "unknown error code";
  }
}

extern "C" int adas_preprocess_ppc(void) { return pp::PPC; }

#endif  // __SYNTHESIS__
