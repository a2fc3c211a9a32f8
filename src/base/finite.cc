#include "base/finite.h"

#include <cstring>

namespace refit {
namespace {

// Exponent all ones means NaN or infinity. Tested on the bit pattern, in blocks, so the compiler
// vectorises the scan (it runs over every new weight at memory bandwidth).
template <typename Bits>
int64_t Scan(const void* data, int64_t n, Bits exponent_mask) {
  const Bits* p = static_cast<const Bits*>(data);
  constexpr int64_t kBlock = 1024;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    bool bad = false;
    for (int64_t i = b; i < e; ++i) bad |= (p[i] & exponent_mask) == exponent_mask;
    if (!bad) continue;
    for (int64_t i = b; i < e; ++i) {
      if ((p[i] & exponent_mask) == exponent_mask) return i;
    }
  }
  return -1;
}

}  // namespace

int64_t FirstNonFinite(const TensorView& view) {
  const int64_t n = view.NumElements();
  switch (view.dtype()) {
    case DataType::kF32:
      return Scan<uint32_t>(view.data(), n, 0x7f800000u);
    case DataType::kF64:
      return Scan<uint64_t>(view.data(), n, 0x7ff0000000000000ull);
    case DataType::kF16:
      return Scan<uint16_t>(view.data(), n, uint16_t(0x7c00));
    case DataType::kBF16:
      return Scan<uint16_t>(view.data(), n, uint16_t(0x7f80));
    default:
      return -1;
  }
}

}  // namespace refit
