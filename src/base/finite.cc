#include "base/finite.h"

#include <algorithm>
#include <cstring>

namespace refit {
namespace {

// NaN or infinity: the exponent bits are all ones. With the sign dropped, adding one exponent
// step carries into the top bit exactly for those, so OR-ing that over a block of elements
// tells whether the block holds one. Plain integer adds, ands and ors: vectorised even at the
// baseline ISA, so the scan over every new weight runs at memory bandwidth.
template <typename Bits>
int64_t Scan(const void* data, int64_t n, Bits magnitude_mask, Bits exponent_step) {
  const Bits* p = static_cast<const Bits*>(data);
  const Bits top = Bits(~magnitude_mask);
  auto flag = [&](Bits v) { return Bits(Bits((v & magnitude_mask) + exponent_step) & top); };
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    Bits acc = 0;
    for (int64_t i = b; i < e; ++i) acc |= flag(p[i]);
    if (acc == 0) continue;
    for (int64_t i = b; i < e; ++i) {
      if (flag(p[i]) != 0) return i;
    }
  }
  return -1;
}

}  // namespace

int64_t FirstNonFinite(const TensorView& view) {
  const int64_t n = view.NumElements();
  switch (view.dtype()) {
    case DataType::kF32:
      return Scan<uint32_t>(view.data(), n, 0x7fffffffu, 0x00800000u);
    case DataType::kF64:
      return Scan<uint64_t>(view.data(), n, 0x7fffffffffffffffull, 0x0010000000000000ull);
    case DataType::kF16:
      return Scan<uint16_t>(view.data(), n, uint16_t(0x7fff), uint16_t(0x0400));
    case DataType::kBF16:
      return Scan<uint16_t>(view.data(), n, uint16_t(0x7fff), uint16_t(0x0080));
    default:
      return -1;
  }
}

int64_t CopyCheckingFinite(const TensorView& view, void* dst) {
  const size_t esize = DataTypeSize(view.dtype());
  const int64_t n = view.NumElements();
  if (esize == 0 || n == 0) return -1;
  constexpr int64_t kBlockBytes = 16 << 10;
  const int64_t block = std::max<int64_t>(1, kBlockBytes / int64_t(esize));
  const char* src = static_cast<const char*>(view.data());
  char* out = static_cast<char*>(dst);
  int64_t first = -1;
  for (int64_t b = 0; b < n; b += block) {
    const int64_t count = std::min(block, n - b);
    std::memcpy(out + b * esize, src + b * esize, size_t(count) * esize);
    if (first < 0) {
      const int64_t i = FirstNonFinite(TensorView(view.dtype(), Shape{count}, out + b * esize));
      if (i >= 0) first = b + i;
    }
  }
  return first;
}

}  // namespace refit
