#include "ir/graph_signature.h"

#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

namespace refit::ir {
namespace {

// More differing op counts than this are summarised: the first few say enough to find the cause.
constexpr int kMaxOpCountLines = 8;

// Builds the byte string that is hashed. Tags and length prefixes keep distinct structures from
// serialising to the same bytes (e.g. inputs {"ab"} vs {"a", "b"}).
class Serializer {
 public:
  void Tag(char c) { bytes_.push_back(c); }
  void U64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = char((v >> (8 * i)) & 0xff);
    bytes_.append(b, sizeof(b));
  }
  void Reserve(size_t n) { bytes_.reserve(n); }
  void I64(int64_t v) { U64(uint64_t(v)); }
  void F32(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    U64(bits);
  }
  void Bytes(const void* data, size_t n) {
    U64(n);
    bytes_.append(static_cast<const char*>(data), n);
  }
  void Str(std::string_view s) { Bytes(s.data(), s.size()); }
  void TensorMeta(DataType dtype, const Shape& shape) {
    I64(int64_t(dtype));
    U64(shape.rank());
    for (int64_t d : shape.dims()) I64(d);
  }

  // FNV-1a 64: xxhash is linked only by the engine layer, and graphs serialise to a few KB.
  const std::string& bytes() const { return bytes_; }
  uint64_t Hash() const {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : bytes_) {
      h ^= uint8_t(c);
      h *= 0x100000001b3ull;
    }
    return h;
  }

 private:
  std::string bytes_;
};

void SerializeAttribute(const std::string& name, const Attribute& a, Serializer& out) {
  out.Tag('a');
  out.Str(name);
  out.I64(int64_t(a.kind));
  switch (a.kind) {
    case Attribute::Kind::kInt:
      out.I64(a.i);
      break;
    case Attribute::Kind::kFloat:
      out.F32(a.f);
      break;
    case Attribute::Kind::kString:
      out.Str(a.s);
      break;
    case Attribute::Kind::kTensor:
      if (a.t == nullptr) {
        out.Tag('0');
        break;
      }
      out.TensorMeta(a.t->dtype(), a.t->shape());
      out.Bytes(a.t->data(), a.t->data() == nullptr ? 0 : a.t->nbytes());
      break;
    case Attribute::Kind::kInts:
      out.U64(a.ints.size());
      for (int64_t v : a.ints) out.I64(v);
      break;
    case Attribute::Kind::kFloats:
      out.U64(a.floats.size());
      for (float v : a.floats) out.F32(v);
      break;
    case Attribute::Kind::kStrings:
      out.U64(a.strings.size());
      for (const std::string& s : a.strings) out.Str(s);
      break;
    case Attribute::Kind::kOther:
      // The IR does not keep the payload (subgraph, sparse tensor); the kind is all there is.
      break;
  }
}

std::string CountLine(const std::string& what, int64_t expected, int64_t found) {
  std::string line = what;
  line += ": expected ";
  line += std::to_string(expected);
  line += ", found ";
  line += std::to_string(found);
  return line;
}

// A canonical id: "<tag><index>" or "<tag><index>.<output>" ("i0", "n12.1", "w3"), kept as
// numbers and written as those characters: the hashed bytes stay the same, and a graph of a few
// thousand nodes is signed without a string allocation per value.
struct CanonicalId {
  char tag = 0;
  uint32_t index = 0;
  int32_t output = -1;  // -1: none

  void Write(Serializer& out) const {
    char buf[32];
    char* p = buf;
    *p++ = tag;
    p = std::to_chars(p, buf + sizeof(buf), index).ptr;
    if (output >= 0) {
      *p++ = '.';
      p = std::to_chars(p, buf + sizeof(buf), output).ptr;
    }
    out.Bytes(buf, size_t(p - buf));
  }
};

// Gives values their canonical ids and weights their first-use ordinals. Names are views into
// the graph, which outlives this.
class CanonicalIds {
 public:
  CanonicalIds(const Graph& graph, GraphSignature& sig) : graph_(graph), sig_(sig) {
    ids_.reserve(2 * graph.nodes.size() + graph.inputs.size() + 16);
  }

  void Define(std::string_view name, CanonicalId id) {
    if (!name.empty()) ids_.emplace(name, id);
  }

  // Writes the id of `name` read as an input; a weight's first read also writes its metadata.
  void Read(const std::string& name, Serializer& out) {
    if (name.empty()) {
      out.Str("");
      return;
    }
    if (auto it = ids_.find(name); it != ids_.end()) {
      it->second.Write(out);
      return;
    }
    const Tensor* w = graph_.FindWeight(name);
    if (w == nullptr) {
      out.Str("?");
      return;
    }
    const CanonicalId id{'w', uint32_t(sig_.weights.size()), -1};
    sig_.weights.push_back(name);
    id.Write(out);
    out.TensorMeta(w->dtype(), w->shape());
    ids_.emplace(name, id);
  }

 private:
  const Graph& graph_;
  GraphSignature& sig_;
  std::unordered_map<std::string_view, CanonicalId> ids_;
};

}  // namespace

GraphSignature ComputeGraphSignature(const Graph& graph) {
  return ComputeGraphSignature(graph, nullptr);
}

GraphSignature ComputeGraphSignature(const Graph& graph, std::string* serialized) {
  GraphSignature sig;
  Serializer out;
  CanonicalIds ids(graph, sig);
  // Counted by (domain, op) views, named once per distinct op at the end.
  std::map<std::pair<std::string_view, std::string_view>, int> op_counts;
  out.Reserve(256 * (graph.nodes.size() + 1));  // a node takes about 100-300 bytes

  out.Tag('I');
  out.U64(graph.inputs.size());
  for (size_t k = 0; k < graph.inputs.size(); ++k) {
    const ValueInfo& in = graph.inputs[k];
    out.I64(int64_t(in.dtype));
    out.I64(in.has_shape ? int64_t(in.dims.size()) : -1);
    ids.Define(in.name, CanonicalId{'i', uint32_t(k), -1});
  }

  out.Tag('N');
  out.U64(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    ++op_counts[{node.domain, node.op_type}];
    out.Tag('n');
    out.Str(node.op_type);
    out.Str(node.domain);
    out.U64(node.inputs.size());
    for (const std::string& input : node.inputs) ids.Read(input, out);
    out.U64(node.outputs.size());
    for (size_t m = 0; m < node.outputs.size(); ++m) {
      out.Tag(node.outputs[m].empty() ? '-' : '+');
      ids.Define(node.outputs[m], CanonicalId{'n', uint32_t(n), int32_t(m)});
    }
    out.U64(node.attrs.all().size());
    for (const auto& [name, attr] : node.attrs.all()) SerializeAttribute(name, attr, out);
  }

  out.Tag('O');
  out.U64(graph.outputs.size());
  for (const ValueInfo& o : graph.outputs) ids.Read(o.name, out);

  for (const auto& [op, count] : op_counts) {
    sig.op_counts[op.first.empty() ? std::string(op.second)
                                   : std::string(op.first) + "::" + std::string(op.second)] +=
        count;
  }
  sig.nodes = int64_t(graph.nodes.size());
  sig.hash = out.Hash();
  if (serialized != nullptr) *serialized = out.bytes();
  return sig;
}

StatusOr<std::map<std::string, std::string>> MatchWeightsByPosition(
    const GraphSignature& expected, const GraphSignature& other, const std::string& other_label) {
  std::vector<std::string> diffs;
  if (expected.nodes != other.nodes) {
    diffs.push_back(CountLine("node count", expected.nodes, other.nodes));
  }
  std::set<std::string> ops;
  for (const auto& [op, count] : expected.op_counts) ops.insert(op);
  for (const auto& [op, count] : other.op_counts) ops.insert(op);
  int op_lines = 0;
  int op_lines_left_out = 0;
  for (const std::string& op : ops) {
    auto e = expected.op_counts.find(op);
    auto o = other.op_counts.find(op);
    int e_count = e == expected.op_counts.end() ? 0 : e->second;
    int o_count = o == other.op_counts.end() ? 0 : o->second;
    if (e_count == o_count) continue;
    if (op_lines++ >= kMaxOpCountLines) {
      ++op_lines_left_out;
      continue;
    }
    diffs.push_back(CountLine(op, e_count, o_count));
  }
  if (op_lines_left_out > 0) {
    std::string more = std::to_string(op_lines_left_out);
    more += " more operator counts differ";
    diffs.push_back(std::move(more));
  }
  if (expected.weights.size() != other.weights.size()) {
    diffs.push_back(
        CountLine("weights read", int64_t(expected.weights.size()), int64_t(other.weights.size())));
  }
  if (diffs.empty() && expected.hash != other.hash) {
    diffs.push_back("same operators, other connections or attributes");
  }
  if (!diffs.empty()) {
    std::string message = other_label;
    message += " is not the same architecture as the graph the engine was built from, so its ";
    message += "weights cannot be matched by position:";
    for (const std::string& d : diffs) {
      message += "\n  ";
      message += d;
    }
    return InvalidArgument(std::move(message));
  }

  std::map<std::string, std::string> mapping;
  for (size_t i = 0; i < expected.weights.size(); ++i) {
    mapping.emplace(expected.weights[i], other.weights[i]);
  }
  return mapping;
}

}  // namespace refit::ir
