// A cache of large freed tensor buffers, so that the next tensor of the same size reuses their
// pages instead of mapping fresh ones.
//
// Why: a refit allocates a new buffer per weight slot while the retired weight set frees the old
// ones. glibc maps large blocks afresh (mmap) and unmaps them on free, so every refit paid a page
// fault per 4 KiB touched — on this VM about 3 us a page, several times the cost of copying the
// bytes. Alternating refits (A -> B -> A, LoRA swaps) ask for exactly the sizes they just freed.
//
// Blocks of at least kMinBytes are kept on free, keyed by their rounded size, up to kMaxBytes in
// all (least recently freed dropped first); Take returns one of exactly that size or null. Thread
// safe. Disabled under AddressSanitizer, which must see every free.
#pragma once

#include <cstddef>

namespace refit::internal {

class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{256} << 10;
  static constexpr size_t kMaxBytes = size_t{1} << 30;

  static BlockCache& Get();
  // A cached block of exactly `size` bytes, or null.
  void* Take(size_t size);
  // Keeps `p` (of `size` bytes, from std::aligned_alloc) or frees it.
  void Give(void* p, size_t size);
  size_t cached_bytes() const;
};

}  // namespace refit::internal
