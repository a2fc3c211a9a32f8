// ReadPlanSection: the plan section streamed from its CBOR into a Plan (plan_cbor.h). Members are
// read as they come; the checks that relate members of different objects (indices into the values
// and slots, slot positions, the arena) run once the whole plan is read.
#include <cstring>
#include <memory>

#include "engine/plan_cbor.h"

namespace refit::engine::internal {
namespace {

constexpr int64_t kMaxBytes = int64_t{1} << 42;

void CheckIndex(int64_t index, size_t size, const char* what) {
  if (index < 0 || uint64_t(index) >= size) {
    throw PlanError(std::string(what) + " index " + std::to_string(index) + " out of range [0, " +
                    std::to_string(size) + ")");
  }
}

// Indices into the values or slots; range-checked once the plan is read.
std::vector<int32_t> ReadIndices(CborStream& in, const char* what) {
  std::vector<int32_t> out(in.Array(what, kMaxPlanItems));
  for (int32_t& i : out) i = int32_t(in.Int(what, INT32_MIN, INT32_MAX));
  return out;
}

// The attribute's value, read by its kind.
void ReadAttributeValue(CborStream& in, DataType dtype, Shape shape, ir::Attribute* a) {
  using Kind = ir::Attribute::Kind;
  switch (a->kind) {
    case Kind::kInt:
      a->i = in.Int("v", INT64_MIN, INT64_MAX);
      return;
    case Kind::kFloat:
      a->f = float(in.Number("v"));
      return;
    case Kind::kString:
      a->s = in.Text("v");
      return;
    case Kind::kInts:
      a->ints.resize(in.Array("v", kMaxPlanItems));
      for (int64_t& x : a->ints) x = in.Int("v", INT64_MIN, INT64_MAX);
      return;
    case Kind::kFloats:
      a->floats.resize(in.Array("v", kMaxPlanItems));
      for (float& x : a->floats) x = float(in.Number("v"));
      return;
    case Kind::kStrings:
      a->strings = ReadStrings(in, "v");
      return;
    case Kind::kTensor: {
      const std::string_view bytes = in.Bytes("v");
      auto t = Tensor::Create(dtype, std::move(shape));
      if (!t.ok() || t->nbytes() != bytes.size()) {
        throw PlanError("attribute tensor: shape and byte count disagree");
      }
      if (t->nbytes() > 0) std::memcpy(t->mutable_data(), bytes.data(), t->nbytes());
      a->t = std::make_shared<const Tensor>(std::move(t).value());
      return;
    }
    case Kind::kOther:
      in.Skip();
      return;
  }
}

ir::Attribute ReadAttribute(CborStream& in) {
  using Kind = ir::Attribute::Kind;
  static constexpr std::array<std::string_view, 4> kNames = {"dtype", "k", "shape", "v"};
  ir::Attribute a;
  DataType dtype = DataType::kUndefined;
  Shape shape;
  // The value is read when the members before it (in the writer's order) gave the kind, and for
  // a tensor its dtype and shape; otherwise it is kept and read after the others.
  std::string_view later;
  bool done = false;
  uint32_t seen = 0;
  const auto ready = [&] {
    return (seen & 0b0010) && (a.kind != Kind::kTensor || (seen & 0b0101) == 0b0101);
  };
  // "dtype" and "shape" come with tensors only, and "v" with every kind but kOther.
  ReadMembers(
      in, "attribute", kNames,
      [&](size_t f) {
        seen |= uint32_t{1} << f;
        switch (f) {
          case 0:
            dtype = ReadDType(in, "attribute tensor dtype");
            return;
          case 1:
            a.kind = Kind(in.Int("k", 0, int(Kind::kOther)));
            return;
          case 2:
            shape = ReadShape(in, "attribute tensor shape");
            return;
          default:
            if (ready()) {
              ReadAttributeValue(in, dtype, std::move(shape), &a);
              done = true;
            } else {
              later = in.RawValue();
            }
            return;
        }
      },
      /*optional=*/0b1101);
  if (a.kind == Kind::kTensor && (seen & 0b0101) != 0b0101) {
    throw PlanError("attribute tensor: missing its dtype or shape");
  }
  if (!(seen & 0b1000)) {
    if (a.kind != Kind::kOther) throw PlanError("attribute: missing field 'v'");
    return a;
  }
  if (!done) {
    CborStream v(later);
    ReadAttributeValue(v, dtype, std::move(shape), &a);
    v.ExpectEnd();
  }
  return a;
}

ir::Node ReadNode(CborStream& in) {
  static constexpr std::array<std::string_view, 7> kNames = {"attrs", "domain", "fused",  "inputs",
                                                             "name",  "op",     "outputs"};
  ir::Node n;
  ReadMembers(in, "node", kNames, [&](size_t f) {
    switch (f) {
      case 0: {
        const uint64_t count = in.Map("node attributes");
        for (uint64_t i = 0; i < count; ++i) {
          std::string name(in.Text("an attribute name"));
          n.attrs.Set(name, ReadAttribute(in));
        }
        return;
      }
      case 1:
        n.domain = in.Text("domain");
        return;
      case 2:
        n.fused = ReadStrings(in, "fused");
        return;
      case 3:
        n.inputs = ReadStrings(in, "inputs");
        return;
      case 4:
        n.name = in.Text("name");
        return;
      case 5:
        n.op_type = in.Text("op");
        return;
      default:
        n.outputs = ReadStrings(in, "outputs");
        return;
    }
  });
  return n;
}

PlanLayer ReadLayer(CborStream& in) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "backend", "features", "inputs", "node", "outputs", "tactic", "workspace_bytes"};
  static constexpr std::array<std::string_view, 2> kInputNames = {"index", "kind"};
  PlanLayer layer;
  ReadMembers(in, "layer", kNames, [&](size_t f) {
    switch (f) {
      case 0:
        layer.backend = in.Text("backend");
        return;
      case 1:
        layer.features = in.Text("features");
        return;
      case 2:
        layer.inputs.resize(in.Array("inputs", kMaxPlanItems));
        for (LayerInput& li : layer.inputs) {
          ReadMembers(in, "layer input", kInputNames, [&](size_t g) {
            if (g == 0) {
              li.index = int32_t(in.Int("index", -1, kMaxPlanItems));
            } else {
              li.kind = LayerInput::Kind(in.Int("kind", 0, 2));
            }
          });
        }
        return;
      case 3:
        layer.node = ReadNode(in);
        return;
      case 4:
        layer.outputs = ReadIndices(in, "layer output");
        return;
      case 5:
        layer.tactic = in.Text("tactic");
        return;
      default:
        layer.workspace_bytes = uint64_t(in.Int("workspace_bytes", 0, kMaxBytes));
        return;
    }
  });
  if (layer.inputs.size() != layer.node.inputs.size()) {
    throw PlanError("layer '" + layer.node.name + "': input count differs from its node's");
  }
  if (layer.outputs.size() != layer.node.outputs.size()) {
    throw PlanError("layer '" + layer.node.name + "': output count differs from its node's");
  }
  return layer;
}

PlanValue ReadValue(CborStream& in) {
  static constexpr std::array<std::string_view, 5> kNames = {"dtype", "dynamic", "name", "offset",
                                                             "shape"};
  PlanValue v;
  ReadMembers(in, "value", kNames, [&](size_t f) {
    switch (f) {
      case 0:
        v.dtype = ReadDType(in, "value dtype");
        return;
      case 1:
        v.dynamic = in.Bool("dynamic");
        return;
      case 2:
        v.name = in.Text("name");
        return;
      case 3:
        v.offset = in.Int("offset", -1, kMaxBytes);
        return;
      default:
        v.shape = ReadShape(in, "value shape");
        return;
    }
  });
  return v;
}

WeightSlot ReadSlot(CborStream& in) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "dtype",        "input",        "layer",      "name",  "offset",
      "packed_dtype", "packed_shape", "refittable", "shape", "stored"};
  WeightSlot s;
  ReadMembers(in, "slot", kNames, [&](size_t f) {
    switch (f) {
      case 0:
        s.dtype = ReadDType(in, "slot dtype");
        return;
      case 1:
        s.input = int32_t(in.Int("input", 0, kMaxPlanItems));
        return;
      case 2:
        s.layer = int32_t(in.Int("layer", 0, kMaxPlanItems));
        return;
      case 3:
        s.name = in.Text("name");
        return;
      case 4:
        s.offset = uint64_t(in.Int("offset", 0, kMaxBytes));
        return;
      case 5:
        s.packed_dtype = ReadDType(in, "slot packed dtype");
        return;
      case 6:
        s.packed_shape = ReadShape(in, "slot packed shape");
        return;
      case 7:
        s.refittable = in.Bool("refittable");
        return;
      case 8:
        s.shape = ReadShape(in, "slot shape");
        return;
      default:
        s.stored = in.Bool("stored");
        return;
    }
  });
  return s;
}

// The checks between objects, once all of them are read.
void CheckPlan(const Plan& p) {
  for (const PlanValue& v : p.values) {
    if (v.dynamic != (v.offset < 0)) throw PlanError("value '" + v.name + "': bad placement");
    const uint64_t bytes = uint64_t(v.shape.NumElements()) * DataTypeSize(v.dtype);
    if (!v.dynamic && (v.offset % 64 != 0 || uint64_t(v.offset) + bytes > p.arena_bytes)) {
      throw PlanError("value '" + v.name + "' lies outside the activation arena");
    }
  }
  for (int32_t i : p.inputs) CheckIndex(i, p.values.size(), "graph input");
  for (int32_t o : p.outputs) CheckIndex(o, p.values.size(), "graph output");
  for (const PlanLayer& layer : p.layers) {
    for (const LayerInput& li : layer.inputs) {
      if (li.kind == LayerInput::Kind::kValue) CheckIndex(li.index, p.values.size(), "value");
      if (li.kind == LayerInput::Kind::kSlot) CheckIndex(li.index, p.slots.size(), "slot");
    }
    for (int32_t o : layer.outputs) {
      if (o != -1) CheckIndex(o, p.values.size(), "value");
    }
  }
  for (size_t s = 0; s < p.slots.size(); ++s) {
    const WeightSlot& slot = p.slots[s];
    CheckIndex(slot.layer, p.layers.size(), "slot layer");
    CheckIndex(slot.input, p.layers[slot.layer].inputs.size(), "slot input");
    const LayerInput& li = p.layers[slot.layer].inputs[slot.input];
    if (li.kind != LayerInput::Kind::kSlot || size_t(li.index) != s) {
      throw PlanError("slot '" + slot.name + "' is not the input its layer reads");
    }
    if (slot.offset % 64 != 0) throw PlanError("slot '" + slot.name + "' is not 64-byte aligned");
    if (!slot.refittable && !slot.stored) {
      throw PlanError("constant slot '" + slot.name + "' has no bytes in the file");
    }
  }
}

}  // namespace

Plan ReadPlanSection(std::string_view bytes) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "arena_bytes",    "features", "inputs",  "layers", "max_threads", "mode",
      "model",          "opset",    "outputs", "slots",  "values",      "weight_computations",
      "workspace_bytes"};
  CborStream in(bytes);
  Plan p;
  ReadMembers(
      in, "the plan", kNames,
      [&](size_t f) {
        switch (f) {
          case 0:
            p.arena_bytes = uint64_t(in.Int("arena_bytes", 0, kMaxBytes));
            return;
          case 1:
            p.required_features = in.Text("features");
            return;
          case 2:
            p.inputs = ReadIndices(in, "graph input");
            return;
          case 3:
            p.layers.resize(in.Array("layers", kMaxPlanItems));
            for (PlanLayer& layer : p.layers) layer = ReadLayer(in);
            return;
          case 4:
            p.max_threads = int32_t(in.Int("max_threads", 1, 1024));
            return;
          case 5: {
            auto mode = ParseEngineMode(in.Text("mode"));
            if (!mode.ok()) throw PlanError(mode.status().message());
            p.mode = *mode;
            return;
          }
          case 6:
            p.model_name = in.Text("model");
            return;
          case 7:
            p.opset = in.Int("opset", 1, 1000);
            return;
          case 8:
            p.outputs = ReadIndices(in, "graph output");
            return;
          case 9:
            p.slots.resize(in.Array("slots", kMaxPlanItems));
            for (WeightSlot& slot : p.slots) slot = ReadSlot(in);
            return;
          case 10:
            p.values.resize(in.Array("values", kMaxPlanItems));
            for (PlanValue& v : p.values) v = ReadValue(in);
            return;
          case 11:
            p.weight_computations = ReadStrings(in, "weight_computations");
            return;
          default:
            p.workspace_bytes = uint64_t(in.Int("workspace_bytes", 0, kMaxBytes));
            return;
        }
      },
      /*optional=*/1u << 4);
  in.ExpectEnd();
  CheckPlan(p);
  return p;
}

}  // namespace refit::engine::internal
