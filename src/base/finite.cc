#include "base/finite.h"

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

}  // namespace refit
