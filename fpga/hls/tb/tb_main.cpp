// C-simulation testbench of the preprocessing kernel (Vitis HLS "C simulation", or plain g++:
//   g++ -O2 -std=c++17 -Wno-unknown-pragmas -DPIXELS_PER_CLOCK=1
//       fpga/hls/tb/tb_main.cpp fpga/hls/preprocess.cpp -o tb_main   (one command line)
//   ./tb_main CASE_DIR
//
// CASE_DIR holds one test case, written by fpga/csim.py (write_case):
//   config.txt  "key value" lines: in_w in_h src_stride fmt roi_x roi_y roi_w roi_h out_w
//               out_h cw ch pad_x pad_y pad_value n_planes cmap0 cmap1 cmap2 out_u8
//   input.raw   the frame, in_h rows of src_stride bytes
//   xtab.bin    cw packed table entries (uint64, little-endian; preprocess.hpp)
//   ytab.bin    ch packed table entries
//   lut.bin     n_planes x 256 uint32 words (little-endian)
// and the testbench writes
//   output.bin  the tensor, n_planes x out_h x out_w float32 (or uint8 when out_u8 = 1)
// and prints the modelled cycle count ("cycles N") and the per-stage counts. With
//   golden.bin  the golden model's tensor (optional)
// it also compares every byte. Exit status 0 on success, 1 on a bad case or a kernel error,
// 2 on a mismatch with golden.bin. Binary files are little-endian; this
// testbench assumes a little-endian host (x86, ARM), as the kernel's AXI memory is.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../preprocess.hpp"

namespace {

// The whole file as bytes; false when it cannot be read.
bool read_file(const std::string& path, std::vector<uint8_t>& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// A file of exactly `count` values of T (little-endian); false on a size mismatch.
template <typename T>
bool read_array(const std::string& path, std::size_t count, std::vector<T>& values) {
  std::vector<uint8_t> bytes;
  if (!read_file(path, bytes)) {
    std::fprintf(stderr, "tb: cannot read %s\n", path.c_str());
    return false;
  }
  if (bytes.size() != count * sizeof(T)) {
    std::fprintf(stderr, "tb: %s has %zu bytes, expected %zu\n", path.c_str(), bytes.size(),
                 count * sizeof(T));
    return false;
  }
  values.resize(count);
  if (count > 0) std::memcpy(values.data(), bytes.data(), bytes.size());
  return true;
}

// "key value" lines -> map; false on a malformed line or unreadable file.
bool read_config(const std::string& path, std::map<std::string, long long>& cfg) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "tb: cannot read %s\n", path.c_str());
    return false;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string key;
    long long value = 0;
    if (!(fields >> key >> value)) {
      std::fprintf(stderr, "tb: bad config line '%s'\n", line.c_str());
      return false;
    }
    cfg[key] = value;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
    return 1;
  }
  const std::string dir = argv[1];
  std::map<std::string, long long> cfg;
  if (!read_config(dir + "/config.txt", cfg)) return 1;
  static const char* const keys[] = {
      "in_w",  "in_h",  "src_stride", "fmt",   "roi_x",     "roi_y",    "roi_w",
      "roi_h", "out_w", "out_h",      "cw",    "ch",        "pad_x",    "pad_y",
      "pad_value", "n_planes", "cmap0", "cmap1", "cmap2", "out_u8"};
  for (const char* key : keys) {
    if (!cfg.count(key)) {
      std::fprintf(stderr, "tb: config.txt lacks '%s'\n", key);
      return 1;
    }
  }
  auto get = [&cfg](const char* key) { return static_cast<int>(cfg.at(key)); };
  const int in_h = get("in_h"), stride = get("src_stride");
  const int out_w = get("out_w"), out_h = get("out_h"), cw = get("cw"), ch = get("ch");
  const int n_planes = get("n_planes"), out_u8 = get("out_u8");
  if (in_h < 1 || stride < 1 || cw < 1 || ch < 1 || out_w < 1 || out_h < 1 ||
      (n_planes != 1 && n_planes != 3)) {
    std::fprintf(stderr, "tb: bad sizes in config.txt\n");
    return 1;
  }

  std::vector<uint8_t> frame;
  std::vector<uint64_t> xtab, ytab;
  std::vector<uint32_t> lut;
  if (!read_array(dir + "/input.raw", std::size_t(in_h) * std::size_t(stride), frame) ||
      !read_array(dir + "/xtab.bin", std::size_t(cw), xtab) ||
      !read_array(dir + "/ytab.bin", std::size_t(ch), ytab) ||
      !read_array(dir + "/lut.bin", std::size_t(n_planes) * 256, lut)) {
    return 1;
  }

  const std::size_t n_out = std::size_t(n_planes) * std::size_t(out_h) * std::size_t(out_w);
  const std::size_t elem = out_u8 ? 1 : 4;
  std::vector<uint8_t> tensor(n_out * elem);
  const int cmap[3] = {get("cmap0"), get("cmap1"), get("cmap2")};
  uint64_t cycles = 0;
  uint64_t stages[pp::N_STAGES] = {};
  const int rc = adas_preprocess_run(
      frame.data(), get("in_w"), in_h, stride, get("fmt"), get("roi_x"), get("roi_y"),
      get("roi_w"), get("roi_h"), out_w, out_h, cw, ch, get("pad_x"), get("pad_y"),
      get("pad_value"), n_planes, cmap, xtab.data(), ytab.data(), lut.data(), out_u8,
      tensor.data(), &cycles, stages);
  if (rc != 0) {
    std::fprintf(stderr, "tb: kernel error %d: %s\n", rc, adas_preprocess_strerror(rc));
    return 1;
  }

  const std::string out_path = dir + "/output.bin";
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(tensor.data()), std::streamsize(tensor.size()));
  if (!out) {
    std::fprintf(stderr, "tb: cannot write %s\n", out_path.c_str());
    return 1;
  }
  std::printf("ppc %d\n", adas_preprocess_ppc());
  std::printf("cycles %llu\n", static_cast<unsigned long long>(cycles));
  static const char* const names[pp::N_STAGES] = {"read", "convert", "hpass", "vpass", "write"};
  for (int s = 0; s < pp::N_STAGES; ++s) {
    std::printf("stage %s %llu\n", names[s], static_cast<unsigned long long>(stages[s]));
  }
  std::printf("output %s %zu\n", out_path.c_str(), tensor.size());

  // The self-check Vitis expects of a testbench (csim and cosim pass on exit status 0): when
  // the case holds the golden model's tensor, every byte must match it.
  std::vector<uint8_t> golden;
  if (read_file(dir + "/golden.bin", golden)) {
    if (golden.size() != tensor.size()) {
      std::fprintf(stderr, "tb: golden.bin has %zu bytes, the tensor %zu\n", golden.size(),
                   tensor.size());
      return 2;
    }
    for (std::size_t i = 0; i < tensor.size(); ++i) {
      if (tensor[i] != golden[i]) {
        std::fprintf(stderr, "tb: MISMATCH with golden.bin at byte %zu (%u != %u)\n", i,
                     unsigned(tensor[i]), unsigned(golden[i]));
        return 2;
      }
    }
    std::printf("golden match %zu bytes\n", tensor.size());
  }
  return 0;
}
