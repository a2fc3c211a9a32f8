// CacheKey: what decides a build, hashed (engine_cache.h lists the fields).
#include <xxhash.h>

#include <cstring>
#include <string_view>

#include "backend/cpu/cpu_features.h"
#include "cache/engine_cache.h"
#include "engine/engine_file.h"
#include "ir/graph_signature.h"

namespace refit::cache {
namespace {

// Streams tagged, length-prefixed fields into XXH3-128, so distinct descriptions cannot produce
// the same byte stream (e.g. input names {"ab"} vs {"a", "b"}).
class KeyHasher {
 public:
  KeyHasher() : state_(XXH3_createState()) { XXH3_128bits_reset(state_); }
  ~KeyHasher() { XXH3_freeState(state_); }
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  void Tag(char c) { Raw(&c, 1); }
  void U64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    Raw(b, sizeof(b));
  }
  void I64(int64_t v) { U64(uint64_t(v)); }
  void F64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    U64(bits);
  }
  void Bytes(const void* data, size_t n) {
    U64(n);
    if (n > 0) Raw(data, n);
  }
  void Str(std::string_view s) { Bytes(s.data(), s.size()); }
  void Meta(DataType dtype, const Shape& shape) {
    I64(int64_t(dtype));
    U64(shape.rank());
    for (int64_t d : shape.dims()) I64(d);
  }

  std::string Hex() const {
    const XXH128_hash_t h = XXH3_128bits_digest(state_);
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint64_t part : {h.high64, h.low64}) {
      for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(part >> shift) & 0xf]);
    }
    return out;
  }

 private:
  void Raw(const void* data, size_t n) { XXH3_128bits_update(state_, data, n); }
  XXH3_state_t* state_;
};

// The dims a build fixes for input `v`, as engine/prepare_graph.cc does: given dims win, the
// model's fixed dims stay, symbolic ones become 1. An input it would refuse hashes as given.
void HashInput(const ir::ValueInfo& v, const engine::BuildOptions& options, KeyHasher& h) {
  h.Tag('i');
  h.Str(v.name);
  h.I64(int64_t(v.dtype));
  std::vector<int64_t> dims = v.has_shape ? v.dims : std::vector<int64_t>();
  auto given = options.input_shapes.find(v.name);
  if (given != options.input_shapes.end()) {
    if (!v.has_shape || given->second.size() == dims.size()) dims = given->second;
  } else if (!v.has_shape) {
    h.Tag('?');
  }
  h.U64(dims.size());
  for (int64_t d : dims) h.I64(d < 0 ? 1 : d);
}

}  // namespace

GraphDigest DigestGraph(const ir::Graph& graph) {
  KeyHasher h;
  h.Str("refit graph digest 1");

  // Structure (ops, attributes, edges, weight dtypes and shapes) and the opset it means.
  std::string structure;
  const ir::GraphSignature sig = ir::ComputeGraphSignature(graph, &structure);
  h.Tag('S');
  h.Str(structure);
  h.I64(graph.opset);

  // Names the engine exposes: its outputs, and the source weights its refit map names (a hit is
  // refitted by name, so another naming must not hit). Input names go with the inputs' dims.
  h.Tag('W');
  h.U64(sig.weights.size());
  for (const std::string& name : sig.weights) {
    h.Str(name);
    const Tensor* w = graph.FindWeight(name);
    // Non-float weights (shapes, axes, indices) decide structure: their values count.
    if (w != nullptr && !IsFloatingPoint(w->dtype())) {
      h.Tag('v');
      h.Bytes(w->data(), w->data() == nullptr ? 0 : w->nbytes());
    }
  }
  h.Tag('O');
  h.U64(graph.outputs.size());
  for (const ir::ValueInfo& v : graph.outputs) h.Str(v.name);
  GraphDigest digest;
  digest.hex = h.Hex();
  return digest;
}

std::string CacheKey(const ir::Graph& graph, const engine::BuildOptions& options) {
  return CacheKey(DigestGraph(graph), graph, options);
}

std::string CacheKey(const GraphDigest& digest, const ir::Graph& graph,
                     const engine::BuildOptions& options) {
  KeyHasher h;
  h.Str("refit engine cache key 2");
  h.Tag('G');
  h.Str(digest.hex);
  h.Tag('I');
  h.U64(graph.inputs.size());
  for (const ir::ValueInfo& v : graph.inputs) HashInput(v, options, h);

  h.Tag('s');
  h.U64(options.sample_inputs.size());
  for (const auto& [name, view] : options.sample_inputs) {
    h.Str(name);
    h.Meta(view.dtype(), view.shape());
    const XXH128_hash_t values = XXH3_128bits(view.data(), view.data() ? view.nbytes() : 0);
    h.U64(values.high64);
    h.U64(values.low64);
  }

  // Settings that change what the tuner picks.
  h.Tag('B');
  h.I64(options.threads);
  h.I64(options.min_timing_runs);
  h.F64(options.min_timing_ms);
  h.I64(options.plan_candidates);
  h.F64(options.plan_check_ms);
  h.F64(options.plan_margin);
  h.F64(options.tactic_margin);

  // Where the result is valid: this CPU, this engine format, this refit.
  h.Tag('C');
  h.Str(cpu::DetectCpuFeatures().ToString());
  h.Str(cpu::CpuModelName());
  h.U64(engine::kEngineFormatVersion);
  h.Str(engine::kEngineProducer);
  return h.Hex();
}

}  // namespace refit::cache
