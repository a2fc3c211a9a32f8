// ReadRefitMapSection: the refit map section streamed from its CBOR into a Plan whose plan section
// is read (plan_cbor.h): source prototypes, the architecture signature, and a recipe per
// refittable slot, each parsed and checked against the prototypes once all is read.
#include "engine/plan_cbor.h"

namespace refit::engine::internal {
namespace {

// A recipe as the refit map stores it: its slot, its serialized bytes (in place).
struct StoredRecipe {
  int64_t slot = -1;
  std::string_view bytes;
};

SourcePrototype ReadSource(CborStream& in) {
  static constexpr std::array<std::string_view, 3> kNames = {"dtype", "name", "shape"};
  SourcePrototype proto;
  ReadMembers(in, "source", kNames, [&](size_t f) {
    if (f == 0) {
      proto.dtype = ReadDType(in, "source dtype");
    } else if (f == 1) {
      proto.name = in.Text("name");
    } else {
      proto.shape = ReadShape(in, "source shape");
    }
  });
  return proto;
}

// The architecture's weights are names, or indices of source prototypes (resolved by the caller).
void ReadArchitecture(CborStream& in, ir::GraphSignature* a, std::vector<uint64_t>* indices) {
  static constexpr std::array<std::string_view, 4> kNames = {"hash", "nodes", "op_counts",
                                                             "weights"};
  ReadMembers(in, "refit map: architecture", kNames, [&](size_t f) {
    switch (f) {
      case 0:
        a->hash = in.Uint("hash", UINT64_MAX);
        return;
      case 1:
        a->nodes = int(in.Int("nodes", 0, kMaxPlanItems));
        return;
      case 2: {
        const uint64_t ops = in.Map("refit map: architecture op_counts");
        for (uint64_t i = 0; i < ops; ++i) {
          std::string op(in.Text("an operator"));
          const int64_t count = in.Int("op count", INT64_MIN, INT64_MAX);
          if (count < 0 || count > INT32_MAX) {
            throw PlanError("refit map: architecture op count of '" + op + "'");
          }
          a->op_counts[std::move(op)] = int(count);
        }
        return;
      }
      default:
        a->weights.resize(in.Array("weights", kMaxPlanItems));
        indices->assign(a->weights.size(), UINT64_MAX);
        for (size_t w = 0; w < a->weights.size(); ++w) {
          if (in.PeekMajor() == 3) {
            a->weights[w] = in.Text("weight");
          } else {
            (*indices)[w] = in.Uint("weight", UINT64_MAX - 1);
          }
        }
        return;
    }
  });
}

}  // namespace

void ReadRefitMapSection(std::string_view bytes, Plan* plan) {
  static constexpr std::array<std::string_view, 3> kNames = {"architecture", "recipes", "sources"};
  static constexpr std::array<std::string_view, 2> kRecipeNames = {"recipe", "slot"};
  Plan& p = *plan;
  CborStream in(bytes);
  std::vector<StoredRecipe> recipes;
  std::vector<uint64_t> weight_indices;
  ReadMembers(
      in, "the refit map", kNames,
      [&](size_t f) {
        switch (f) {
          case 0:
            ReadArchitecture(in, &p.architecture, &weight_indices);
            return;
          case 1:
            recipes.resize(in.Array("recipes", kMaxPlanItems));
            for (StoredRecipe& r : recipes) {
              ReadMembers(in, "recipe", kRecipeNames, [&](size_t g) {
                if (g == 0) {
                  r.bytes = in.Bytes("recipe");
                } else {
                  r.slot = in.Int("slot", 0, kMaxPlanItems);
                }
              });
            }
            return;
          default:
            p.sources.resize(in.Array("sources", kMaxPlanItems));
            for (SourcePrototype& proto : p.sources) proto = ReadSource(in);
            return;
        }
      },
      /*optional=*/0b001);
  in.ExpectEnd();
  // A weight that is also a source prototype is stored as the prototype's index.
  for (size_t w = 0; w < weight_indices.size(); ++w) {
    if (weight_indices[w] == UINT64_MAX) continue;
    if (weight_indices[w] >= p.sources.size()) throw PlanError("refit map: architecture weight");
    p.architecture.weights[w] = p.sources[size_t(weight_indices[w])].name;
  }
  size_t next = 0;
  for (WeightSlot& slot : p.slots) {
    if (!slot.refittable) continue;
    if (next >= recipes.size()) throw PlanError("refit map: fewer recipes than refittable slots");
    const StoredRecipe& r = recipes[next++];
    if (size_t(r.slot) != size_t(&slot - p.slots.data())) {
      throw PlanError("refit map: recipes out of slot order");
    }
    auto recipe = ir::WeightRecipe::Parse(r.bytes);
    if (!recipe.ok()) throw PlanError("slot '" + slot.name + "': " + recipe.status().message());
    for (const std::string& src : recipe->Sources()) {
      if (p.FindSource(src) == nullptr) {
        throw PlanError("slot '" + slot.name + "' reads '" + src + "', which has no prototype");
      }
    }
    auto type = recipe->InferType([&](const std::string& name) {
      const SourcePrototype* proto = p.FindSource(name);
      return std::optional<ir::WeightRecipe::TensorType>({proto->dtype, proto->shape});
    });
    if (!type.ok() || type->dtype != slot.dtype || type->shape != slot.shape) {
      throw PlanError("slot '" + slot.name + "': its recipe does not produce the slot's type");
    }
    slot.recipe = std::move(recipe).value();
  }
  if (next != recipes.size()) throw PlanError("refit map: more recipes than refittable slots");
}

}  // namespace refit::engine::internal
