// PackBlocked2D (blocked_pack.h) through BlockedLayoutOf (dnnl_layout.h) against oneDNN's own
// reorder into the same layout: every float of the packed buffer, for plain and blocked format
// tags, odd shapes, a transposed source and a scale; non-finite values are reported and layouts
// whose places overlap are refused.
#include "backend/cpu/blocked_pack.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/dnnl_layout.h"

namespace refit::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct NamedTag {
  Tag tag;
  const char* name;
};

// The 2-D f32 layouts oneDNN's matmul and inner product pick on AVX2 and AVX-512, and a few more.
const NamedTag kTags[] = {
    {Tag::ab, "ab"},
    {Tag::ba, "ba"},
    {Tag::BA16a64b, "BA16a64b"},
    {Tag::BA16a48b, "BA16a48b"},
    {Tag::BA16a32b, "BA16a32b"},
    {Tag::BA16a16b, "BA16a16b"},
    {Tag::AB16b64a, "AB16b64a"},
    {Tag::AB16b32a, "AB16b32a"},
    {Tag::AB16b16a, "AB16b16a"},
    {Tag::AB16a16b, "AB16a16b"},
    {Tag::AB32a32b, "AB32a32b"},
    {Tag::AB48a16b, "AB48a16b"},
};

// oneDNN's reorder of src(r, c) = src[r * row + c * col] times scale into `md`, from a zeroed
// buffer.
std::vector<float> Reference(const memory::desc& md, const std::vector<float>& src, int64_t rows,
                             int64_t cols, int64_t row, int64_t col, float scale) {
  std::vector<float> scaled(src);
  for (float& v : scaled) v *= scale;
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const memory::desc plain({rows, cols}, memory::data_type::f32, memory::dims{row, col});
  std::vector<float> out(md.get_size() / sizeof(float), 0.0f);
  memory s(plain, eng, scaled.data());
  memory d(md, eng, out.data());
  dnnl::stream stream(eng);
  dnnl::reorder(s, d).execute(stream, s, d);
  stream.wait();
  return out;
}

TEST(BlockedPackTest, MatchesOneDnnReorder) {
  const int64_t shapes[][2] = {{1, 1}, {7, 5}, {16, 64}, {33, 130}, {100, 17}, {64, 200}};
  int layouts = 0;
  for (const NamedTag& t : kTags) {
    for (const auto& shape : shapes) {
      const int64_t rows = shape[0], cols = shape[1];
      const memory::desc md({rows, cols}, memory::data_type::f32, t.tag);
      const std::optional<BlockedLayout2D> layout = BlockedLayoutOf(md);
      ASSERT_TRUE(layout.has_value()) << t.name << " " << rows << "x" << cols;
      ++layouts;
      std::vector<float> src(size_t(rows * cols));
      for (size_t i = 0; i < src.size(); ++i) src[i] = float(i % 251) * 0.25f - 31.0f;
      for (const bool trans : {false, true}) {
        for (const float scale : {1.0f, -0.5f}) {
          SCOPED_TRACE(std::string(t.name) + " " + std::to_string(rows) + "x" +
                       std::to_string(cols) + (trans ? " transposed" : "") + " scale " +
                       std::to_string(scale));
          const int64_t row = trans ? 1 : cols, col = trans ? rows : 1;
          const std::vector<float> want = Reference(md, src, rows, cols, row, col, scale);
          // Every float of a dense layout is written: start from a value no element has.
          const float fill = layout->Dense() ? -1234.5f : 0.0f;
          std::vector<float> got(size_t(layout->floats), fill);
          EXPECT_TRUE(PackBlocked2D(*layout, src.data(), row, col, scale, got.data()));
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i], want[i]) << "float " << i;
          }
        }
      }
    }
  }
  EXPECT_EQ(layouts, int(std::size(kTags) * std::size(shapes)));
}

TEST(BlockedPackTest, ReportsNonFiniteValues) {
  const memory::desc md({33, 130}, memory::data_type::f32, Tag::BA16a64b);
  const std::optional<BlockedLayout2D> layout = BlockedLayoutOf(md);
  ASSERT_TRUE(layout.has_value());
  for (const float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    for (const int64_t at : {int64_t{0}, int64_t{33 * 130 - 1}, int64_t{17 * 130 + 65}}) {
      std::vector<float> src(33 * 130, 1.0f);
      src[size_t(at)] = bad;
      std::vector<float> got(size_t(layout->floats));
      EXPECT_FALSE(PackBlocked2D(*layout, src.data(), 130, 1, 1.0f, got.data())) << at;
      EXPECT_FALSE(PackBlocked2D(*layout, src.data(), 1, 33, 1.0f, got.data())) << at;
    }
  }
  // Finite values whose scaled product overflows are refused too.
  std::vector<float> big(33 * 130, 3e38f);
  std::vector<float> got(size_t(layout->floats));
  EXPECT_TRUE(PackBlocked2D(*layout, big.data(), 130, 1, 1.0f, got.data()));
  EXPECT_FALSE(PackBlocked2D(*layout, big.data(), 130, 1, 4.0f, got.data()));
}

TEST(BlockedPackTest, LeavesTwoLevelBlockingsToOneDnn) {
  // Two blocks on one dim (the bf16/int8 layouts): not a BlockedLayout2D.
  EXPECT_FALSE(BlockedLayoutOf(memory::desc({64, 128}, memory::data_type::f32, Tag::BA16a64b4a)));
  EXPECT_FALSE(BlockedLayoutOf(memory::desc({64, 128}, memory::data_type::f32, Tag::AB8b32a2b)));
  EXPECT_FALSE(BlockedLayoutOf(memory::desc({64, 128}, memory::data_type::bf16, Tag::ab)));
}

TEST(BlockedPackTest, RefusesOverlappingOrOutOfRangeLayouts) {
  BlockedLayout2D l;
  l.rows = 4;
  l.cols = 4;
  l.block[0] = 4;
  l.block[1] = 4;
  l.inner[0] = 4;
  l.inner[1] = 1;
  l.floats = 16;
  EXPECT_TRUE(l.Valid());
  EXPECT_TRUE(l.Dense());
  l.inner[0] = 3;  // row 1 starts inside row 0
  EXPECT_FALSE(l.Valid());
  l.inner[0] = 4;
  l.floats = 15;  // the last element past the end
  EXPECT_FALSE(l.Valid());
  l.floats = 20;  // room to spare: valid, not dense
  EXPECT_TRUE(l.Valid());
  EXPECT_FALSE(l.Dense());
  l.offset0 = 5;  // shifted past the end
  EXPECT_FALSE(l.Valid());
}

}  // namespace
}  // namespace refit::cpu
