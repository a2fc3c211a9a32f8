// Comparison, logic and selection tactics ("compare/broadcast", "logic/broadcast",
// "where/broadcast"): Equal, Greater, Less, GreaterOrEqual, LessOrEqual on f32, i32, i64 and bool
// (bool results); And, Or, Xor on bool; Where(condition, X, Y) on any dtype of 1, 2, 4 or 8
// bytes (the selected elements are copied bit for bit). All broadcast as numpy does
// (broadcast.h), row by row over the longest innermost run, rows shared over the pool when the
// layer is large. NaN compares false, as IEEE and the reference say. Attention masks in
// transformer exports are made of these.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/broadcast.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

enum class Kind { kEqual, kGreater, kLess, kGreaterOrEqual, kLessOrEqual, kAnd, kOr, kXor };

// What a run must be given: per input, its dtype and element count, and the output's.
struct IoShape {
  std::vector<DataType> dtypes;
  std::vector<int64_t> counts;
  DataType out_dtype = DataType::kBool;
  int64_t out_count = 0;
};

struct LogicSpec {
  Kind kind = Kind::kEqual;
  internal::BroadcastPlan plan;
  IoShape io;
  std::string label;
};

template <Kind K, typename T>
bool Apply(T x, T y) {
  if constexpr (K == Kind::kEqual) return x == y;
  if constexpr (K == Kind::kGreater) return x > y;
  if constexpr (K == Kind::kLess) return x < y;
  if constexpr (K == Kind::kGreaterOrEqual) return x >= y;
  if constexpr (K == Kind::kLessOrEqual) return x <= y;
  if constexpr (K == Kind::kAnd) return x && y;
  if constexpr (K == Kind::kOr) return x || y;
  if constexpr (K == Kind::kXor) return x != y;
}

template <Kind K, typename T>
void Rows(const internal::BroadcastPlan& p, const T* a, const T* b, bool* out, int64_t begin,
          int64_t end) {
  const int64_t n = p.row_len(), sa = p.inner_stride(0), sb = p.inner_stride(1);
  internal::ForEachRow(p, begin, end, [&](int64_t o, const int64_t* off) {
    const T* x = a + off[0];
    const T* y = b + off[1];
    bool* z = out + o;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = Apply<K>(x[i], y[i]);
    } else if (sa == 1) {
      const T v = *y;
      for (int64_t i = 0; i < n; ++i) z[i] = Apply<K>(x[i], v);
    } else if (sb == 1) {
      const T v = *x;
      for (int64_t i = 0; i < n; ++i) z[i] = Apply<K>(v, y[i]);
    } else {
      const bool v = Apply<K>(*x, *y);
      for (int64_t i = 0; i < n; ++i) z[i] = v;
    }
  });
}

template <typename T>
void RunKind(Kind k, const internal::BroadcastPlan& p, const T* a, const T* b, bool* out,
             int64_t begin, int64_t end) {
  switch (k) {
    case Kind::kEqual:
      return Rows<Kind::kEqual>(p, a, b, out, begin, end);
    case Kind::kGreater:
      return Rows<Kind::kGreater>(p, a, b, out, begin, end);
    case Kind::kLess:
      return Rows<Kind::kLess>(p, a, b, out, begin, end);
    case Kind::kGreaterOrEqual:
      return Rows<Kind::kGreaterOrEqual>(p, a, b, out, begin, end);
    case Kind::kLessOrEqual:
      return Rows<Kind::kLessOrEqual>(p, a, b, out, begin, end);
    case Kind::kAnd:
      return Rows<Kind::kAnd>(p, a, b, out, begin, end);
    case Kind::kOr:
      return Rows<Kind::kOr>(p, a, b, out, begin, end);
    case Kind::kXor:
      return Rows<Kind::kXor>(p, a, b, out, begin, end);
  }
}

// Inputs and output present, of the planned dtypes and element counts.
bool IoFits(const backend::KernelIo& io, const IoShape& want) {
  if (io.inputs.size() != want.dtypes.size() || io.outputs.size() != 1 ||
      io.outputs[0] == nullptr || io.outputs[0]->dtype() != want.out_dtype ||
      io.outputs[0]->NumElements() != want.out_count) {
    return false;
  }
  for (size_t i = 0; i < want.dtypes.size(); ++i) {
    if (io.inputs[i] == nullptr || io.inputs[i]->dtype() != want.dtypes[i] ||
        io.inputs[i]->NumElements() != want.counts[i]) {
      return false;
    }
  }
  return true;
}

class LogicKernel : public backend::Kernel {
 public:
  explicit LogicKernel(LogicSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (!IoFits(io, s_.io)) {
      return InvalidArgument(s_.label + ": inputs or output of another type than planned");
    }
    const DataType dtype = s_.io.dtypes[0];
    bool* out = io.outputs[0]->mutable_data_as<bool>();
    const int64_t bytes = io.outputs[0]->NumElements() * int64_t(DataTypeSize(dtype) + 1);
    internal::DispatchValueType(dtype, [&]<typename T>() {
      const T* a = io.inputs[0]->data_as<T>();
      const T* b = io.inputs[1]->data_as<T>();
      internal::ParallelRows(io.pool, s_.plan.rows, bytes, [&](int64_t begin, int64_t end) {
        RunKind(s_.kind, s_.plan, a, b, out, begin, end);
      });
    });
    return Status::Ok();
  }

 private:
  LogicSpec s_;
};

struct WhereSpec {
  internal::BroadcastPlan plan;  // operands: condition, X, Y
  IoShape io;
  std::string label;
};

template <typename E>
void WhereRows(const internal::BroadcastPlan& p, const bool* c, const E* x, const E* y, E* out,
               int64_t begin, int64_t end) {
  const int64_t n = p.row_len(), sc = p.inner_stride(0), sx = p.inner_stride(1),
                sy = p.inner_stride(2);
  internal::ForEachRow(p, begin, end, [&](int64_t o, const int64_t* off) {
    const bool* cr = c + off[0];
    const E* xr = x + off[1];
    const E* yr = y + off[2];
    E* z = out + o;
    for (int64_t i = 0; i < n; ++i) z[i] = cr[i * sc] ? xr[i * sx] : yr[i * sy];
  });
}

class WhereKernel : public backend::Kernel {
 public:
  explicit WhereKernel(WhereSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (!IoFits(io, s_.io)) {
      return InvalidArgument(s_.label + ": inputs or output of another type than planned");
    }
    const bool* c = io.inputs[0]->data_as<bool>();
    const int64_t bytes = io.outputs[0]->nbytes();
    internal::DispatchElementSize(DataTypeSize(s_.io.out_dtype), [&]<typename E>() {
      const E* x = static_cast<const E*>(io.inputs[1]->data());
      const E* y = static_cast<const E*>(io.inputs[2]->data());
      E* out = static_cast<E*>(io.outputs[0]->mutable_data());
      internal::ParallelRows(io.pool, s_.plan.rows, bytes, [&](int64_t begin, int64_t end) {
        WhereRows(s_.plan, c, x, y, out, begin, end);
      });
    });
    return Status::Ok();
  }

 private:
  WhereSpec s_;
};

std::optional<Kind> KindOf(const std::string& op) {
  static const std::pair<const char*, Kind> kKinds[] = {
      {"Equal", Kind::kEqual},
      {"Greater", Kind::kGreater},
      {"Less", Kind::kLess},
      {"GreaterOrEqual", Kind::kGreaterOrEqual},
      {"LessOrEqual", Kind::kLessOrEqual},
      {"And", Kind::kAnd},
      {"Or", Kind::kOr},
      {"Xor", Kind::kXor},
  };
  for (const auto& [name, kind] : kKinds) {
    if (op == name) return kind;
  }
  return std::nullopt;
}

// Every input present; the planned output one tensor of `out_dtype` that the inputs broadcast to.
// `io` receives what a run must be given.
std::optional<internal::BroadcastPlan> PlanLayer(const backend::LayerDesc& layer, size_t inputs,
                                                 DataType out_dtype, IoShape* io) {
  if (layer.node->inputs.size() != inputs || layer.outputs.size() != 1 ||
      layer.outputs[0].dtype != out_dtype) {
    return std::nullopt;
  }
  std::vector<std::vector<int64_t>> dims;
  for (size_t i = 0; i < inputs; ++i) {
    if (!layer.input(i).present()) return std::nullopt;
    dims.push_back(layer.input(i).shape.dims());
    io->dtypes.push_back(layer.input(i).dtype);
    io->counts.push_back(layer.input(i).shape.NumElements());
  }
  io->out_dtype = out_dtype;
  io->out_count = layer.outputs[0].shape.NumElements();
  return internal::PlanBroadcast(layer.outputs[0].shape.dims(), dims);
}

}  // namespace

void AddLogicTactics(const backend::LayerDesc& layer, TacticList* out) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty()) return;
  if (node.op_type == "Where") {
    if (layer.node->inputs.size() != 3 || !layer.input(0).present() ||
        layer.input(0).dtype != DataType::kBool || !layer.input(1).present() ||
        !layer.input(2).present() || layer.input(1).dtype != layer.input(2).dtype) {
      return;
    }
    const DataType dtype = layer.input(1).dtype;
    const size_t size = DataTypeSize(dtype);
    if (size != 1 && size != 2 && size != 4 && size != 8) return;
    IoShape io;
    std::optional<internal::BroadcastPlan> plan = PlanLayer(layer, 3, dtype, &io);
    if (!plan) return;
    out->push_back(std::make_unique<internal::SpecTactic<WhereSpec, WhereKernel>>(
        "where/broadcast", WhereSpec{std::move(*plan), std::move(io), layer.Label()}));
    return;
  }
  const std::optional<Kind> kind = KindOf(node.op_type);
  if (!kind || node.inputs.size() != 2 || !layer.input(0).present() || !layer.input(1).present()) {
    return;
  }
  const DataType dtype = layer.input(0).dtype;
  if (layer.input(1).dtype != dtype) return;
  const bool logic = *kind == Kind::kAnd || *kind == Kind::kOr || *kind == Kind::kXor;
  if (logic ? dtype != DataType::kBool
            : dtype != DataType::kF32 && dtype != DataType::kI32 && dtype != DataType::kI64 &&
                  dtype != DataType::kBool) {
    return;
  }
  IoShape io;
  std::optional<internal::BroadcastPlan> plan = PlanLayer(layer, 2, DataType::kBool, &io);
  if (!plan) return;
  out->push_back(std::make_unique<internal::SpecTactic<LogicSpec, LogicKernel>>(
      logic ? "logic/broadcast" : "compare/broadcast",
      LogicSpec{*kind, std::move(*plan), std::move(io), layer.Label()}));
}

}  // namespace refit::cpu
