// Minimal FIFO stream for C simulation with plain g++ (no vendor headers).
//
// Under Vitis HLS synthesis (__SYNTHESIS__ defined) the name pp_shim::stream is an alias of
// hls::stream, so the kernel source is the same for both. In C simulation the dataflow
// processes of the kernel run one after the other, so a FIFO must be able to hold everything
// its producer writes for a whole frame: this one is an unbounded std::deque. Reading an empty
// FIFO is a kernel bug (a producer/consumer count mismatch); it throws, and the C-ABI entry
// point turns that into an error code instead of a crash of the calling process.
#pragma once

#ifdef __SYNTHESIS__
#include "hls_stream.h"
namespace pp_shim {
template <typename T>
using stream = hls::stream<T>;
}  // namespace pp_shim
#else
#include <cstddef>
#include <deque>
#include <stdexcept>

namespace pp_shim {

// The subset of hls::stream the kernel uses: write, read, empty, size.
template <typename T>
class stream {
 public:
  stream() = default;
  explicit stream(const char* /*name*/) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& value) { fifo_.push_back(value); }

  T read() {
    if (fifo_.empty()) {
      throw std::runtime_error("pp_shim::stream: read from an empty FIFO");
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }

  bool empty() const { return fifo_.empty(); }
  std::size_t size() const { return fifo_.size(); }

 private:
  std::deque<T> fifo_;
};

}  // namespace pp_shim
#endif
