// WeightRecipe: how a derived weight is computed from SOURCE weights.
//
// A recipe is a small expression DAG stored as a list of steps in evaluation order; each step reads
// only earlier steps (by index), and the last step is the result. Passes that change a weight never
// compute the new value themselves: they record a recipe, and every consumer (the reference
// executor, the engine builder, refit) gets the value by Evaluate(). Evaluate is deterministic
// (same sources, same bytes out), so a build and a later refit with the same sources agree
// bit-exactly.
//
// Serialize() gives a stable little-endian byte form for the engine file; Parse() validates every
// field (step kinds, argument indices, ranks, sizes) before trusting it. A WeightRecipe is a plain
// value type: not synchronised.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::ir {

class WeightRecipe {
 public:
  enum class Op : uint8_t {
    kSource = 1,     // a source weight by name
    kTranspose = 2,  // ints = permutation
    kReshape = 3,    // ints = new shape (explicit, no -1 or 0 wildcards)
    kCast = 4,       // dtype; between f32, f16, bf16 and f64
    kBnScale = 5,    // args = {w, gamma, var}: w * gamma / sqrt(var + eps) along `axis`
    kBnBias = 6,     // args = {b or -1, gamma, beta, mean, var}: (b - mean) * scale + beta
    kConcat = 7,     // args = inputs, concatenated along `axis`
    kExpand = 8,     // ints = output shape: numpy broadcast (dims aligned right, each 1 or equal)
    kSlice = 9,      // ints = {start, end}: elements [start, end) along `axis`
  };
  struct Step {
    Op op = Op::kSource;
    std::string source;         // kSource
    std::vector<int32_t> args;  // earlier step indices; -1 only for kBnBias's absent bias
    std::vector<int64_t> ints;  // kTranspose perm, kReshape and kExpand shape
    DataType dtype = DataType::kUndefined;  // kCast
    float eps = 0;                          // kBnScale, kBnBias
    int64_t axis = 0;                       // kBnScale channel axis, kConcat, kSlice axis
    bool operator==(const Step& o) const = default;
  };
  using Lookup = std::function<const Tensor*(const std::string& name)>;
  struct TensorType {
    DataType dtype = DataType::kUndefined;
    Shape shape;
    bool operator==(const TensorType& o) const = default;
  };
  using TypeLookup = std::function<std::optional<TensorType>(const std::string& name)>;

  // Builders: each appends one step and returns its index (the new result of the recipe).
  int AddSource(const std::string& name);
  int AddTranspose(int x, std::vector<int64_t> perm);
  int AddReshape(int x, std::vector<int64_t> shape);
  int AddCast(int x, DataType dtype);
  int AddBnScale(int w, int gamma, int var, float eps, int64_t channel_axis);
  int AddBnBias(int b, int gamma, int beta, int mean, int var, float eps);  // b = -1: no bias
  int AddConcat(std::vector<int32_t> inputs, int64_t axis);
  int AddExpand(int x, std::vector<int64_t> shape);
  int AddSlice(int x, int64_t axis, int64_t start, int64_t end);
  // Appends all of `other`'s steps and returns the index of its result.
  int Append(const WeightRecipe& other);

  static WeightRecipe FromSource(const std::string& name);

  const std::vector<Step>& steps() const { return steps_; }
  bool empty() const { return steps_.empty(); }
  // Distinct source names, in first-use order (kept up to date by the builders and Parse).
  const std::vector<std::string>& Sources() const { return sources_; }
  // True when the recipe is a single Source step (an identity).
  bool IsIdentity() const { return steps_.size() == 1 && steps_[0].op == Op::kSource; }

  // Computes the result from the source tensors `lookup` returns (nullptr: missing). Errors name
  // the step and the source weights involved, with expected vs found shapes. The result owns its
  // bytes (never aliases a source).
  StatusOr<Tensor> Evaluate(const Lookup& lookup) const;
  // Evaluate over `sources`: the tensors of Sources(), in that order (nullptr: missing).
  // `types_checked` skips InferType: the caller has checked every source's dtype and shape
  // against types for which InferType of this recipe succeeded (an engine checks refit sources
  // against its prototypes, and its recipes against the prototypes when it loads). Values are
  // still checked. With types it did not check, the result is undefined.
  StatusOr<Tensor> EvaluateOver(const std::vector<const Tensor*>& sources,
                                bool types_checked) const;
  // The result's dtype and shape from the sources' dtypes and shapes, without reading any value.
  // Makes every check Evaluate makes, with the same errors (Evaluate calls it first).
  StatusOr<TensorType> InferType(const TypeLookup& lookup) const;
  // Checks the structure alone (argument indices, ranks, dtypes): what Parse() guarantees.
  Status Validate() const;

  // "bn_scale(conv1.weight, bn1.weight, bn1.running_var, eps=1e-05, axis=0)"
  std::string ToString() const;
  std::string Serialize() const;
  static StatusOr<WeightRecipe> Parse(std::string_view bytes);

  bool operator==(const WeightRecipe& o) const { return steps_ == o.steps_; }

 private:
  std::string StepToString(int index) const;
  void NoteSource(const std::string& name);

  std::vector<Step> steps_;
  std::vector<std::string> sources_;  // distinct kSource names of steps_, in first-use order
};

// The per-channel factor of kBnScale and kBnBias, gamma / sqrt(var + eps): the one formula every
// evaluation uses, so a fused path that scales while packing gives the same bits.
float BnScaleFactor(float gamma, float var, float eps);

// Short name of a step kind: "source", "transpose", "reshape", "cast", "bn_scale", "bn_bias",
// "concat".
std::string_view RecipeOpName(WeightRecipe::Op op);

}  // namespace refit::ir
