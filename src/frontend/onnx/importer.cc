#include "frontend/onnx/importer.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "base/mapped_file.h"
#include "frontend/onnx/tensor_proto.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"

namespace refit::onnx_frontend {
namespace {

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A whole model file, mapped rather than read: its bytes are parsed once by protobuf (which copies
// what it keeps), so a read() copy and a zero-filled buffer would be two wasted passes over the
// weights. Another process truncating the file while it is parsed would fault (SIGBUS), as with
// any mapped input; the importer holds the mapping only for the parse.
StatusOr<MappedFile> ReadWholeFile(const std::string& path) { return MappedFile::Open(path); }

template <typename Proto>
bool ParseLarge(std::string_view bytes, Proto* proto) {
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                int(std::min<size_t>(bytes.size(), INT_MAX)));
  stream.SetTotalBytesLimit(INT_MAX);
  return bytes.size() <= size_t(INT_MAX) && proto->ParseFromCodedStream(&stream) &&
         stream.ConsumedEntireMessage();
}

ir::ValueInfo ConvertValueInfo(const onnx::ValueInfoProto& vi) {
  ir::ValueInfo v;
  v.name = vi.name();
  if (!vi.type().has_tensor_type()) return v;
  const auto& tt = vi.type().tensor_type();
  v.dtype = DataTypeFromOnnx(tt.elem_type()).value_or(DataType::kUndefined);
  if (tt.has_shape()) {
    v.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      v.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      v.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
  }
  return v;
}

StatusOr<ir::Attribute> ConvertAttribute(const onnx::AttributeProto& a,
                                         const std::string& base_dir) {
  ir::Attribute r;
  using K = ir::Attribute::Kind;
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      r.kind = K::kInt;
      r.i = a.i();
      break;
    case onnx::AttributeProto::FLOAT:
      r.kind = K::kFloat;
      r.f = a.f();
      break;
    case onnx::AttributeProto::STRING:
      r.kind = K::kString;
      r.s = a.s();
      break;
    case onnx::AttributeProto::INTS:
      r.kind = K::kInts;
      r.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      r.kind = K::kFloats;
      r.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRINGS:
      r.kind = K::kStrings;
      r.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      r.kind = K::kTensor;
      auto t = TensorFromProto(a.t(), base_dir);
      if (!t.ok()) return t.status().WithContext("attribute '" + a.name() + "'");
      r.t = std::make_shared<const Tensor>(std::move(t).value());
      break;
    }
    default:
      r.kind = K::kOther;
      break;
  }
  return r;
}

Status LabelError(const std::string& label, const Status& s) { return s.WithContext(label); }

// `path` is the model file when there is one: the checker then resolves external data beside it.
StatusOr<ir::Graph> ConvertModel(onnx::ModelProto& model, const std::string& base_dir,
                                 const std::string& label, const std::string& path,
                                 const ImportOptions& options) {
  int64_t opset = -1;
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = imp.version();
  }
  if (opset < 0) return InvalidArgument(label + ": the model imports no default-domain opset");
  if (opset < options.min_opset || opset > options.max_opset) {
    return Unimplemented(label + ": opset " + std::to_string(opset) + " is outside the supported " +
                         std::to_string(options.min_opset) + ".." +
                         std::to_string(options.max_opset));
  }
  if (options.check_model) {
    // The file-based checker parses the file again; it is only needed to resolve external data.
    bool external = false;
    for (const onnx::TensorProto& t : model.graph().initializer()) {
      external = external || t.data_location() == onnx::TensorProto::EXTERNAL;
    }
    try {
      if (path.empty() || !external) {
        onnx::checker::check_model(model);
      } else {
        onnx::checker::check_model(path);
      }
    } catch (const std::exception& e) {
      return InvalidArgument(label + ": the ONNX checker rejected the model: " + e.what());
    }
  }
  if (options.infer_shapes) {
    try {
      onnx::shape_inference::InferShapes(model);
    } catch (const std::exception& e) {
      return InvalidArgument(label + ": ONNX shape inference failed: " + e.what());
    }
  }

  const onnx::GraphProto& g = model.graph();
  ir::Graph graph;
  graph.name = g.name();
  graph.opset = opset;
  for (const auto& init : g.initializer()) {
    if (graph.weights.count(init.name())) {
      return InvalidArgument(label + ": initializer '" + init.name() + "' is defined twice");
    }
    auto t = TensorFromProto(init, base_dir);
    if (!t.ok()) return LabelError(label, t.status().WithContext("initializer"));
    graph.weights.emplace(init.name(), std::move(t).value());
  }
  if (g.sparse_initializer_size() > 0) {
    return Unimplemented(label + ": sparse initializers are not supported");
  }
  for (const auto& in : g.input()) {
    if (graph.weights.count(in.name())) continue;  // an initializer listed as input (IR < 4)
    ir::ValueInfo v = ConvertValueInfo(in);
    if (!in.type().has_tensor_type() || v.dtype == DataType::kUndefined) {
      return Unimplemented(label + ": graph input '" + in.name() +
                           "' is not a tensor of a supported dtype");
    }
    graph.inputs.push_back(std::move(v));
  }
  for (const auto& out : g.output()) graph.outputs.push_back(ConvertValueInfo(out));
  for (const auto& vi : g.value_info()) graph.value_infos[vi.name()] = ConvertValueInfo(vi);

  std::set<std::string> used_names;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& np = g.node(i);
    ir::Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty()) {
        return Unimplemented(label + ": node '" + n.name + "' uses a function attribute reference");
      }
      auto attr = ConvertAttribute(a, base_dir);
      if (!attr.ok()) return LabelError(label, attr.status().WithContext("node '" + n.name + "'"));
      n.attrs.Set(a.name(), std::move(attr).value());
    }
    graph.nodes.push_back(std::move(n));
  }
  Status s = graph.Validate();
  if (!s.ok()) return LabelError(label, s);
  return graph;
}

StatusOr<ir::Graph> ImportParsed(std::string_view bytes, const std::string& base_dir,
                                 const std::string& label, const std::string& path,
                                 const ImportOptions& options) {
  onnx::ModelProto model;
  if (bytes.empty() || !ParseLarge(bytes, &model)) {
    return DataLoss(label +
                    ": not a valid ONNX model (protobuf parsing failed; the file may be "
                    "truncated or not ONNX)");
  }
  if (!model.has_graph()) return InvalidArgument(label + ": the model has no graph");
  try {
    return ConvertModel(model, base_dir, label, path, options);
  } catch (const std::exception& e) {
    return Internal(label + ": unexpected error while importing: " + e.what());
  }
}

}  // namespace

StatusOr<ir::Graph> ImportOnnxBytes(const std::string& bytes, const std::string& base_dir,
                                    const std::string& label, const ImportOptions& options) {
  return ImportParsed(bytes, base_dir, label, "", options);
}

StatusOr<ir::Graph> ImportOnnxFile(const std::string& path, const ImportOptions& options) {
  REFIT_ASSIGN_OR_RETURN(MappedFile bytes, ReadWholeFile(path));
  return ImportParsed(bytes.bytes(), DirName(path), "'" + path + "'", path, options);
}

StatusOr<NamedTensor> LoadTensorProtoFile(const std::string& path) {
  REFIT_ASSIGN_OR_RETURN(MappedFile bytes, ReadWholeFile(path));
  onnx::TensorProto proto;
  if (!ParseLarge(bytes.bytes(), &proto)) {
    return DataLoss("'" + path + "' is not a serialized ONNX TensorProto");
  }
  auto t = TensorFromProto(proto, DirName(path));
  if (!t.ok()) return t.status().WithContext("'" + path + "'");
  return NamedTensor{proto.name(), std::move(t).value()};
}

}  // namespace refit::onnx_frontend
