// Runs one IR node with its reference kernel, fused activation included (ir/fused_ops.h). The one
// place that defines what a node computes: the reference executor, constant folding and the
// reference backend's fallback tactic all go through it.
#pragma once

#include <vector>

#include "base/thread_pool.h"
#include "ir/graph.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::reference {

// `inputs`: one per node input, nullptr for an absent optional input. Fills one output per node
// output (undefined for an absent output name). Errors name the node.
Status EvaluateNode(const ir::Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>* outputs, ThreadPool* pool = nullptr);

// Applies the node's fused activation (if any) to its first output, in place (f32 only).
Status ApplyFusedActivation(const ir::Node& node, Tensor& output);

}  // namespace refit::reference
