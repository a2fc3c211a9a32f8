#include "frontend/onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace refit::onnx_frontend {
namespace {

std::string Describe(const onnx::TensorProto& proto) { return "tensor '" + proto.name() + "'"; }

// Copies typed repeated-field values into `out`, converting each to T.
template <typename T, typename Field>
Status CopyField(const Field& field, int64_t n, Tensor& out, const onnx::TensorProto& proto) {
  if (field.size() != n) {
    return DataLoss(Describe(proto) + " has " + std::to_string(field.size()) +
                    " values, its shape " + out.shape().ToString() + " needs " + std::to_string(n));
  }
  T* dst = out.mutable_data_as<T>();
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(field.Get(int(i)));
  return Status::Ok();
}

Status ReadExternal(const onnx::TensorProto& proto, const std::string& base_dir, Tensor& out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      return DataLoss(Describe(proto) + ": external_data '" + kv.key() + "' is not a number: '" +
                      kv.value() + "'");
    }
  }
  if (location.empty()) return DataLoss(Describe(proto) + ": external data without a location");
  REFIT_ASSIGN_OR_RETURN(std::string path, ResolveExternalPath(base_dir, location));
  const int64_t want = int64_t(out.nbytes());
  if (length >= 0 && length != want) {
    return DataLoss(Describe(proto) + ": external data length " + std::to_string(length) +
                    " does not match its shape " + out.shape().ToString() + " (" +
                    std::to_string(want) + " bytes)");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return NotFound(Describe(proto) + ": cannot open external data file '" + path +
                    "': " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  if (offset < 0 || offset > st.st_size || want > st.st_size - offset) {
    ::close(fd);
    return DataLoss(Describe(proto) + ": external data range [" + std::to_string(offset) + ", " +
                    std::to_string(offset + want) + ") lies outside '" + path + "' (" +
                    std::to_string(st.st_size) + " bytes)");
  }
  char* dst = static_cast<char*>(out.mutable_data());
  int64_t done = 0;
  while (done < want) {
    ssize_t r = ::pread(fd, dst + done, size_t(want - done), offset + done);
    if (r <= 0) {
      ::close(fd);
      return IoError(Describe(proto) + ": reading '" + path + "' failed");
    }
    done += r;
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> ResolveExternalPath(const std::string& base_dir,
                                          const std::string& location) {
  if (location.empty() || location[0] == '/') {
    return InvalidArgument("external data location '" + location + "' must be a relative path");
  }
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find('/', start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0) {
      return InvalidArgument("external data location '" + location +
                             "' may not leave the model's directory");
    }
    start = end + 1;
  }
  return base_dir.empty() ? location : base_dir + "/" + location;
}

StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir) {
  auto dtype = DataTypeFromOnnx(proto.data_type());
  if (!dtype) {
    return Unimplemented(Describe(proto) + " has ONNX data type " +
                         std::to_string(proto.data_type()) + ", which refit does not support");
  }
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  auto n_or = CheckedNumElements(dims);
  if (!n_or.ok()) return n_or.status().WithContext(Describe(proto));
  const int64_t n = *n_or;
  if (proto.has_segment()) return Unimplemented(Describe(proto) + " is segmented");
  // Not zero-filled: every path below writes all of it or fails.
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(*dtype, Shape(dims)));

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    REFIT_RETURN_IF_ERROR(ReadExternal(proto, base_dir, out));
    return out;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != out.nbytes()) {
      return DataLoss(Describe(proto) + " has " + std::to_string(proto.raw_data().size()) +
                      " bytes of raw data, its shape " + out.shape().ToString() + " and dtype " +
                      std::string(DataTypeName(*dtype)) + " need " + std::to_string(out.nbytes()));
    }
    if (n > 0) std::memcpy(out.mutable_data(), proto.raw_data().data(), out.nbytes());
    return out;
  }
  Status s;
  switch (*dtype) {
    case DataType::kF32:
      s = CopyField<float>(proto.float_data(), n, out, proto);
      break;
    case DataType::kF64:
      s = CopyField<double>(proto.double_data(), n, out, proto);
      break;
    case DataType::kI64:
      s = CopyField<int64_t>(proto.int64_data(), n, out, proto);
      break;
    case DataType::kI32:
      s = CopyField<int32_t>(proto.int32_data(), n, out, proto);
      break;
    case DataType::kI16:
      s = CopyField<int16_t>(proto.int32_data(), n, out, proto);
      break;
    case DataType::kI8:
      s = CopyField<int8_t>(proto.int32_data(), n, out, proto);
      break;
    case DataType::kU8:
      s = CopyField<uint8_t>(proto.int32_data(), n, out, proto);
      break;
    case DataType::kBool:
      s = CopyField<bool>(proto.int32_data(), n, out, proto);
      break;
    // float16 and bfloat16 values are stored as their bit patterns in int32_data.
    case DataType::kF16:
    case DataType::kBF16:
      s = CopyField<uint16_t>(proto.int32_data(), n, out, proto);
      break;
    case DataType::kUndefined:
      s = Internal("undefined dtype");
      break;
  }
  REFIT_RETURN_IF_ERROR(s);
  return out;
}

}  // namespace refit::onnx_frontend
