// Interoperability with files laid out the way Python's safetensors writes them, checked against
// an independent numpy implementation of the format in both directions.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <limits>

#include "base/file_util.h"
#include "base/test_temp_dir.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

// Writes like safetensors.numpy.save_file: data ordered by (alignment descending, name), header
// keys sorted with "__metadata__" first, compact JSON padded with spaces to a multiple of 8.
constexpr char kPythonWriter[] = R"PY(
import json, struct, sys
import numpy as np

def bf16(values):
    bits = np.asarray(values, dtype=np.float32).view(np.uint32) >> 16
    return bits.astype(np.uint16)

tensors = {
    "f32": (np.asarray([[1.5, -2.25, 3.0], [0.125, -0.0, 65504.0]], dtype=np.float32), "F32"),
    "f16": (np.asarray([0.5, -1.0, 65504.0, 2.0 ** -24], dtype=np.float16), "F16"),
    "bf16": (bf16([1.0, -2.5, 3.0, 2.0 ** 100]), "BF16"),
    "f64": (np.asarray([1e300, -1.0 / 3.0], dtype=np.float64), "F64"),
    "i8": (np.asarray([-128, 127, 0], dtype=np.int8), "I8"),
    "u8": (np.asarray([0, 255, 17], dtype=np.uint8), "U8"),
    "i16": (np.asarray([-32768, 32767], dtype=np.int16), "I16"),
    "i32": (np.asarray([[-2147483648], [2147483647]], dtype=np.int32), "I32"),
    "i64": (np.asarray([-(2 ** 63), 2 ** 63 - 1, 5], dtype=np.int64), "I64"),
    "mask": (np.asarray([True, False, True], dtype=np.bool_), "BOOL"),
    "scalar": (np.asarray(3.5, dtype=np.float32, order="C"), "F32"),
    "empty": (np.zeros((0, 3), dtype=np.float32), "F32"),
}
order = sorted(tensors, key=lambda k: (-tensors[k][0].dtype.itemsize, k))
offsets, data, pos = {}, b"", 0
for name in order:
    arr = np.asarray(tensors[name][0], order="C")
    raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    offsets[name] = [pos, pos + len(raw)]
    data += raw
    pos += len(raw)
header = {"__metadata__": {"format": "np", "source": "python"}}
for name in sorted(tensors):
    arr, dtype = tensors[name]
    header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": offsets[name]}
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
)PY";

// Parses a file with numpy alone and asserts what refit was asked to write.
constexpr char kPythonReader[] = R"PY(
import json, struct, sys
import numpy as np

raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
assert n % 8 == 0, n
header = json.loads(raw[8:8 + n].decode())
data = raw[8 + n:]
order = ["__metadata__", "w", "half", "brain", "idx", "flag", "s", "none"]
assert list(header) == order, list(header)
assert header["__metadata__"] == {"writer": "refit"}, header["__metadata__"]
kinds = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "BOOL": "u1"}
pos, got = 0, {}
for name, info in list(header.items())[1:]:
    begin, end = info["data_offsets"]
    assert begin == pos, (name, begin, pos)
    arr = np.frombuffer(data[begin:end], dtype=kinds[info["dtype"]]).reshape(info["shape"])
    if info["dtype"] == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    got[name] = arr
    pos = end
assert pos == len(data), (pos, len(data))
f32_max = np.finfo(np.float32).max
want_w = np.array([[1.0, -2.0, 0.5], [2.0 ** -100, f32_max, -7.25]], np.float32)
np.testing.assert_array_equal(got["w"], want_w)
np.testing.assert_array_equal(got["half"], np.array([0.5, -65504.0, 2.0 ** -24], np.float16))
np.testing.assert_array_equal(got["brain"], np.array([1.0, -2.5, 2.0 ** 100], np.float32))
np.testing.assert_array_equal(got["idx"], np.array([[-(2 ** 63)], [2 ** 63 - 1]], np.int64))
np.testing.assert_array_equal(got["flag"], np.array([1, 0, 1], np.uint8))
assert got["s"].shape == () and got["s"][()] == 42.0, got["s"]
assert got["none"].shape == (2, 0), got["none"].shape
print("python reader: ok")
)PY";

bool HavePythonWithNumpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

// Runs `script` with /usr/bin/python3 and `arg`; true when it exits with status 0.
bool RunPython(const TestTempDir& dir, const char* script, const std::string& arg) {
  const std::string script_path = dir.File("script.py");
  if (!WriteFileAtomically(script_path, script).ok()) return false;
  const int rc = std::system(("/usr/bin/python3 " + script_path + " " + arg).c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

template <typename T>
std::vector<T> Values(const SafetensorsFile& file, const std::string& name) {
  StatusOr<TensorView> v = file.Get(name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  if (!v.ok()) return {};
  EXPECT_EQ(v->dtype(), DataTypeOf<T>::value) << name;
  return std::vector<T>(v->data_as<T>(), v->data_as<T>() + v->NumElements());
}

std::vector<uint16_t> Bits(const std::vector<Half>& v) {
  std::vector<uint16_t> out;
  for (Half h : v) out.push_back(h.bits);
  return out;
}

TEST(SafetensorsPythonTest, ReadsAFileWrittenByPython) {
  if (!HavePythonWithNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TestTempDir dir;
  const std::string path = dir.File("py.safetensors");
  ASSERT_TRUE(RunPython(dir, kPythonWriter, path));
  StatusOr<std::unique_ptr<SafetensorsFile>> opened = SafetensorsFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const SafetensorsFile& file = **opened;

  const std::map<std::string, std::string> metadata = {{"format", "np"}, {"source", "python"}};
  EXPECT_EQ(file.metadata(), metadata);
  // names() follows the data offsets, which the writer ordered by alignment, then name.
  // "empty" and "f32" start at the same offset; the empty range sorts first.
  const std::vector<std::string> by_offset = {"f64",  "i64", "empty", "f32", "i32",  "scalar",
                                              "bf16", "f16", "i16",   "i8",  "mask", "u8"};
  EXPECT_EQ(file.names(), by_offset);

  EXPECT_EQ(file.Get("f32")->shape(), Shape({2, 3}));
  EXPECT_EQ(Values<float>(file, "f32"),
            (std::vector<float>{1.5f, -2.25f, 3.0f, 0.125f, -0.0f, 65504.0f}));
  EXPECT_EQ(Bits(Values<Half>(file, "f16")),
            (std::vector<uint16_t>{0x3800, 0xbc00, 0x7bff, 0x0001}));
  std::vector<float> bf16;
  for (BFloat16 b : Values<BFloat16>(file, "bf16")) bf16.push_back(float(b));
  EXPECT_EQ(bf16, (std::vector<float>{1.0f, -2.5f, 3.0f, 0x1p100f}));
  EXPECT_EQ(Values<double>(file, "f64"), (std::vector<double>{1e300, -1.0 / 3.0}));
  EXPECT_EQ(Values<int8_t>(file, "i8"), (std::vector<int8_t>{-128, 127, 0}));
  EXPECT_EQ(Values<uint8_t>(file, "u8"), (std::vector<uint8_t>{0, 255, 17}));
  EXPECT_EQ(Values<int16_t>(file, "i16"), (std::vector<int16_t>{-32768, 32767}));
  EXPECT_EQ(file.Get("i32")->shape(), Shape({2, 1}));
  EXPECT_EQ(Values<int32_t>(file, "i32"), (std::vector<int32_t>{INT32_MIN, INT32_MAX}));
  EXPECT_EQ(Values<int64_t>(file, "i64"), (std::vector<int64_t>{INT64_MIN, INT64_MAX, 5}));
  EXPECT_EQ(Values<bool>(file, "mask"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(file.Get("scalar")->shape().rank(), 0u);
  EXPECT_EQ(Values<float>(file, "scalar"), std::vector<float>{3.5f});
  EXPECT_EQ(file.Get("empty")->shape(), Shape({0, 3}));
  EXPECT_TRUE(Values<float>(file, "empty").empty());
  // Sorted by alignment, every tensor sits aligned in the mapping and is shared, not copied.
  for (const std::string& name : file.names()) {
    StatusOr<Tensor> t = file.GetTensor(name);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->data(), file.Get(name)->data()) << name;
  }
}

TEST(SafetensorsPythonTest, PythonReadsAFileWrittenByRefit) {
  if (!HavePythonWithNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TestTempDir dir;
  const std::string path = dir.File("refit.safetensors");
  Tensor w = Tensor::FromVector<float>(
      {2, 3}, {1.0f, -2.0f, 0.5f, 0x1p-100f, std::numeric_limits<float>::max(), -7.25f});
  Tensor half = Tensor::FromVector<Half>({3}, {Half(0.5f), Half(-65504.0f), Half::FromBits(1)});
  Tensor brain =
      Tensor::FromVector<BFloat16>({3}, {BFloat16(1.0f), BFloat16(-2.5f), BFloat16(0x1p100f)});
  Tensor idx = Tensor::FromVector<int64_t>({2, 1}, {INT64_MIN, INT64_MAX});
  Tensor flag = Tensor::FromVector<bool>({3}, {true, false, true});
  Tensor s = Tensor::FromVector<float>({}, {42.0f});
  Tensor none = Tensor::FromVector<float>({2, 0}, {});
  // Deliberately not sorted, so Python checks that the given order is kept.
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"w", w.view()},
                                {"half", half.view()},
                                {"brain", brain.view()},
                                {"idx", idx.view()},
                                {"flag", flag.view()},
                                {"s", s.view()},
                                {"none", none.view()}},
                               {{"writer", "refit"}})
                  .ok());
  EXPECT_TRUE(RunPython(dir, kPythonReader, path));
}

}  // namespace
}  // namespace refit
