// The engine plan: everything a loaded engine needs besides the packed weights. Immutable once
// built; the builder fills it, the engine file stores it (plan, tactics and refit-map sections),
// the runtime executes it.
//
// Values are the activations (graph inputs and layer outputs), by index; weight slots are the
// constant inputs of layers, by index. A slot is refittable when its value is a WeightRecipe over
// source weights (the refit map), or a constant (a Constant node, a folded shape, or in static
// builds any folded weight computation), whose bytes always stay in the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_signature.h"
#include "ir/weight_recipe.h"
#include "refit/status.h"

namespace refit::engine {

enum class EngineMode { kRefittable, kStripped, kStatic };
std::string_view EngineModeName(EngineMode mode);  // "refittable", "stripped", "static"
StatusOr<EngineMode> ParseEngineMode(std::string_view name);

struct PlanValue {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;
  bool dynamic = false;  // shape depends on input values: not in the arena
  int64_t offset = -1;   // byte offset in the activation arena; -1 when dynamic
};

struct LayerInput {
  enum class Kind : uint8_t { kAbsent = 0, kValue = 1, kSlot = 2 };
  Kind kind = Kind::kAbsent;
  int32_t index = -1;  // value or slot index
};

struct TacticTiming {
  std::string tactic;
  double median_us = 0;
};

struct PlanLayer {
  ir::Node node;         // the final node: op, attributes (fusions included), fused ONNX nodes
  std::string backend;   // "cpu", "reference"
  std::string tactic;    // the chosen tactic's name
  std::string features;  // CPU features the tactic needs (CpuFeatures::ToString form)
  std::vector<LayerInput> inputs;     // one per node input
  std::vector<int32_t> outputs;       // value index per node output; -1 for an absent output
  std::vector<TacticTiming> timings;  // every tactic timed (empty when there was one choice)
  bool from_timing_cache = false;
  uint64_t workspace_bytes = 0;
};

struct WeightSlot {
  std::string name;  // the weight as the node reads it (a source or derived weight, a constant)
  int32_t layer = -1;
  int32_t input = -1;
  DataType dtype = DataType::kUndefined;  // what the recipe produces (the tactic's input)
  Shape shape;
  bool refittable = false;  // has `recipe`; otherwise a constant stored in the weights section
  ir::WeightRecipe recipe;  // over source weights (refittable slots)
  DataType packed_dtype = DataType::kUndefined;  // what PackWeight produced
  Shape packed_shape;
  uint64_t offset = 0;  // in the weights section, when stored
  bool stored = false;  // bytes present in the weights section
  uint64_t nbytes() const;
};

struct SourcePrototype {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;
  // "" when a tensor of `dtype` and `shape` fits; else "expected f32[4,3], found f16[4,3]".
  std::string Mismatch(DataType found_dtype, const Shape& found_shape) const;
};

struct Plan {
  std::string model_name;
  int64_t opset = 0;
  EngineMode mode = EngineMode::kRefittable;
  std::vector<PlanValue> values;
  std::vector<int32_t> inputs;    // value indices of the graph inputs, in graph order
  std::vector<int32_t> outputs;   // value indices of the graph outputs, in graph order
  std::vector<PlanLayer> layers;  // execution order
  std::vector<WeightSlot> slots;
  std::vector<SourcePrototype> sources;  // every source weight a refittable slot reads
  // The imported ONNX graph's structure (before passes), so a refit from another export whose
  // initializers carry other names can match them by position (empty for older engines).
  ir::GraphSignature architecture;
  uint64_t arena_bytes = 0;
  uint64_t workspace_bytes = 0;   // the largest layer workspace
  std::string required_features;  // union over the layers
  // The most threads the engine runs with, whatever a load asks for: 1 where the builder's thread
  // check found the engine faster on one thread than on the threads it was built for (a small
  // model, whose layers cost less than handing their data between cores); 0: no limit.
  int32_t max_threads = 0;
  // Nodes that compute on weights only, kept at run time so refit cannot leave a stale result
  // (refittable and stripped builds); a static build folds them.
  std::vector<std::string> weight_computations;

  uint64_t WeightBytes(bool refittable_only) const;
  const SourcePrototype* FindSource(const std::string& name) const;
};

// Section encodings (docs/engine-format.md). Parse* validate every index, size and dtype before
// anything trusts them; `label` names the file in errors.
std::string SerializePlan(const Plan& plan);
std::string SerializeTactics(const Plan& plan);
std::string SerializeRefitMap(const Plan& plan);
// The plan and refit map sections: everything a load needs. Each layer's tactic name is in the
// plan section; the tuner's timings are not (see ParseTactics).
StatusOr<Plan> ParsePlan(std::string_view plan_bytes, std::string_view refit_map_bytes,
                         bool has_refit_map, const std::string& label);
// Fills each layer's timings and from_timing_cache from a tactics section, which must name the
// plan's tactic for every layer. Only inspecting or writing an engine reads them, so a load
// leaves this to first use (Engine::TimedPlan).
Status ParseTactics(std::string_view tactics_bytes, const std::string& label, Plan* plan);

}  // namespace refit::engine
