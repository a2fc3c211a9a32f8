#include "refit/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "base/file_util.h"
#include "base/mapped_file.h"
#include "base/test_temp_dir.h"

namespace refit {
namespace {

// Values with edge cases for each element type, exactly representable in that type.
template <typename T>
std::vector<T> SampleValues() {
  if constexpr (std::is_same_v<T, bool>) {
    return {true, false, false, true, true, false};
  } else if constexpr (std::is_same_v<T, Half>) {
    return {Half(0.5f),  Half(-1.0f),           Half(65504.0f), Half::FromBits(0x0001),
            Half(-0.0f), Half::FromBits(0x7c00)};
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return {BFloat16(1.0f),
            BFloat16(-2.5f),
            BFloat16::FromBits(0x7f7f),
            BFloat16::FromBits(0x0001),
            BFloat16(0.0f),
            BFloat16::FromBits(0xff80)};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {T(1.5),
            T(-2.25),
            std::numeric_limits<T>::max(),
            std::numeric_limits<T>::denorm_min(),
            T(-0.0),
            -std::numeric_limits<T>::infinity()};
  } else {
    return {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), T(0), T(1), T(-1), T(7)};
  }
}

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    const T value = v[i];  // a copy, since std::vector<bool> has no addressable elements
    std::memcpy(s.data() + i * sizeof(T), &value, sizeof(T));
  }
  return s;
}

std::string Bytes(const TensorView& v) {
  return std::string(static_cast<const char*>(v.data()), v.nbytes());
}

// Three tensors per dtype: a 2x3 matrix of edge values, a 0-d scalar and an empty [0,4] tensor.
struct Fixture {
  std::vector<Tensor> owned;
  std::vector<NamedTensorView> views;
  std::vector<std::string> expected_bytes;

  template <typename T>
  void Add(const std::string& prefix) {
    const std::vector<T> values = SampleValues<T>();
    Add(prefix + ".matrix", Tensor::FromVector<T>({2, 3}, values), Bytes(values));
    Add(prefix + ".scalar", Tensor::FromVector<T>({}, {values[1]}),
        Bytes(std::vector<T>{values[1]}));
    Add(prefix + ".empty", Tensor::FromVector<T>({0, 4}, {}), "");
  }
  void Add(const std::string& name, Tensor t, std::string bytes) {
    owned.push_back(std::move(t));
    expected_bytes.push_back(std::move(bytes));
    views.push_back({name, owned.back().view()});
  }
};

Fixture AllDtypes() {
  Fixture f;
  f.owned.reserve(64);  // views point into owned tensors' buffers, which moves do not change
  f.Add<float>("f32");
  f.Add<Half>("f16");
  f.Add<BFloat16>("bf16");
  f.Add<double>("f64");
  f.Add<int8_t>("i8");
  f.Add<uint8_t>("u8");
  f.Add<int16_t>("i16");
  f.Add<int32_t>("i32");
  f.Add<int64_t>("i64");
  f.Add<bool>("bool");
  return f;
}

void ExpectSameTensors(const SafetensorsFile& file, const Fixture& f) {
  ASSERT_EQ(file.names().size(), f.views.size());
  for (size_t i = 0; i < f.views.size(); ++i) {
    const NamedTensorView& want = f.views[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(file.names()[i], want.name);  // written in order, so offsets follow it
    StatusOr<TensorView> got = file.Get(want.name);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->dtype(), want.view.dtype());
    EXPECT_EQ(got->shape(), want.view.shape());
    EXPECT_EQ(Bytes(*got), f.expected_bytes[i]);
    StatusOr<Tensor> tensor = file.GetTensor(want.name);
    ASSERT_TRUE(tensor.ok()) << tensor.status().ToString();
    EXPECT_EQ(tensor->shape(), want.view.shape());
    EXPECT_EQ(Bytes(tensor->view()), f.expected_bytes[i]);
  }
}

TEST(SafetensorsTest, RoundTripsEveryDtypeInMemory) {
  Fixture f = AllDtypes();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "héllo"}};
  StatusOr<std::string> bytes = SerializeSafetensors(f.views, metadata);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::FromBytes(*bytes, "mem");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ExpectSameTensors(**file, f);
  EXPECT_EQ((*file)->metadata(), metadata);
  // Spot-check typed access on top of the byte comparison.
  EXPECT_EQ((*file)->Get("i64.matrix")->data_as<int64_t>()[0], INT64_MIN);
  EXPECT_EQ((*file)->Get("f32.scalar")->data_as<float>()[0], -2.25f);
  EXPECT_EQ((*file)->Get("f32.scalar")->NumElements(), 1);
  EXPECT_EQ((*file)->Get("bf16.scalar")->data_as<BFloat16>()[0].bits, BFloat16(-2.5f).bits);
  EXPECT_EQ((*file)->Get("bool.empty")->NumElements(), 0);
}

TEST(SafetensorsTest, RoundTripsEveryDtypeThroughAFile) {
  TestTempDir dir;
  ASSERT_FALSE(dir.path().empty());
  Fixture f = AllDtypes();
  const std::string path = dir.File("all.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, f.views, {{"k", "v"}}).ok());
  StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->path(), path);
  ExpectSameTensors(**file, f);
  EXPECT_EQ((*file)->metadata().at("k"), "v");
}

TEST(SafetensorsTest, HeaderLayoutMatchesPython) {
  Tensor a = Tensor::FromVector<float>({2}, {1.0f, 2.0f});
  Tensor b = Tensor::FromVector<bool>({}, {true});
  StatusOr<std::string> bytes =
      SerializeSafetensors({{"a", a.view()}, {"b", b.view()}}, {{"m", "x"}});
  ASSERT_TRUE(bytes.ok());
  const std::string json =
      R"({"__metadata__":{"m":"x"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}})";
  std::string header = json + std::string((8 - json.size() % 8) % 8, ' ');
  ASSERT_EQ(header.size() % 8, 0u);
  std::string expected(8, '\0');
  for (int i = 0; i < 8; ++i) expected[i] = char((header.size() >> (8 * i)) & 0xff);
  expected += header;
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x01", 9);
  EXPECT_EQ(*bytes, expected);
}

TEST(SafetensorsTest, BoolWritesOneByteOfZeroOrOne) {
  const uint8_t raw[3] = {0, 7, 255};  // bytes a careless producer might leave in a bool buffer
  StatusOr<std::string> bytes =
      SerializeSafetensors({{"b", TensorView(DataType::kBool, {3}, raw)}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(bytes->size() - 3), std::string("\x00\x01\x01", 3));
}

TEST(SafetensorsTest, EmptyFileAndMetadataOnly) {
  for (const auto& metadata :
       {std::map<std::string, std::string>{}, std::map<std::string, std::string>{{"a", "b"}}}) {
    StatusOr<std::string> bytes = SerializeSafetensors({}, metadata);
    ASSERT_TRUE(bytes.ok());
    StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::FromBytes(*bytes, "mem");
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_TRUE((*file)->names().empty());
    EXPECT_EQ((*file)->metadata(), metadata);
  }
}

TEST(SafetensorsTest, WriterRejectsBadNames) {
  Tensor t = Tensor::FromVector<float>({1}, {1.0f});
  EXPECT_EQ(SerializeSafetensors({{"", t.view()}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeSafetensors({{"__metadata__", t.view()}}).status().code(),
            StatusCode::kInvalidArgument);
  StatusOr<std::string> dup = SerializeSafetensors({{"x", t.view()}, {"x", t.view()}});
  EXPECT_EQ(dup.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.status().message().find("'x'"), std::string::npos);
  EXPECT_FALSE(SerializeSafetensors({{"bad\xff", t.view()}}).ok());  // not UTF-8
}

// Finds the /proc/self/maps line mapping `path` that contains `p`.
bool InFileMapping(const void* p, const std::string& path) {
  const std::string canonical = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() < canonical.size() ||
        line.compare(line.size() - canonical.size(), canonical.size(), canonical) != 0) {
      continue;
    }
    uintptr_t begin = 0, end = 0;
    char dash;
    std::istringstream(line) >> std::hex >> begin >> dash >> end;
    const uintptr_t q = reinterpret_cast<uintptr_t>(p);
    if (q >= begin && q < end) return true;
  }
  return false;
}

TEST(SafetensorsTest, ViewsAndAlignedTensorsPointIntoTheMapping) {
  TestTempDir dir;
  const std::string path = dir.File("zc.safetensors");
  Tensor w = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  Tensor odd = Tensor::FromVector<uint8_t>({3}, {9, 8, 7});
  Tensor late = Tensor::FromVector<int32_t>({2}, {-5, 6});  // at data offset 19: misaligned
  // Past MappedFile::kReadBelow, so that the file is mapped, not read.
  Tensor pad = Tensor::FromVector<uint8_t>({int64_t(MappedFile::kReadBelow)},
                                           std::vector<uint8_t>(MappedFile::kReadBelow, 1));
  ASSERT_TRUE(
      WriteSafetensors(
          path, {{"w", w.view()}, {"odd", odd.view()}, {"late", late.view()}, {"pad", pad.view()}})
          .ok());

  Tensor kept;
  {
    StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    StatusOr<TensorView> view = (*file)->Get("w");
    ASSERT_TRUE(view.ok());
    EXPECT_TRUE(InFileMapping(view->data(), path));
    StatusOr<Tensor> tensor = (*file)->GetTensor("w");
    ASSERT_TRUE(tensor.ok());
    EXPECT_EQ(tensor->data(), view->data());  // zero-copy

    StatusOr<TensorView> late_view = (*file)->Get("late");
    ASSERT_TRUE(late_view.ok());
    EXPECT_TRUE(InFileMapping(late_view->data(), path));
    ASSERT_NE(reinterpret_cast<uintptr_t>(late_view->data()) % 4, 0u);
    StatusOr<Tensor> late_tensor = (*file)->GetTensor("late");
    ASSERT_TRUE(late_tensor.ok());
    EXPECT_FALSE(InFileMapping(late_tensor->data(), path));  // copied to aligned memory
    EXPECT_EQ(reinterpret_cast<uintptr_t>(late_tensor->data()) % 4, 0u);
    EXPECT_EQ(late_tensor->data_as<int32_t>()[0], -5);
    EXPECT_EQ(late_tensor->data_as<int32_t>()[1], 6);
    kept = std::move(*tensor);
  }
  // The wrapped tensor keeps the mapping alive after the file object is gone.
  EXPECT_TRUE(InFileMapping(kept.data(), path));
  EXPECT_EQ(kept.data_as<float>()[3], 4.0f);
}

TEST(SafetensorsTest, GetMissingNamesTensorAndFile) {
  StatusOr<std::string> bytes = SerializeSafetensors({});
  ASSERT_TRUE(bytes.ok());
  auto file = SafetensorsFile::FromBytes(*bytes, "model.safetensors");
  ASSERT_TRUE(file.ok());
  StatusOr<TensorView> missing = (*file)->Get("conv.weight");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("conv.weight"), std::string::npos);
  EXPECT_NE(missing.status().message().find("model.safetensors"), std::string::npos);
  EXPECT_FALSE((*file)->Has("conv.weight"));
  EXPECT_EQ((*file)->GetTensor("conv.weight").status().code(), StatusCode::kNotFound);
}

TEST(SafetensorsTest, OpenMissingFileNamesIt) {
  StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open("/nonexistent/refit/x.safetensors");
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent/refit/x.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace refit
