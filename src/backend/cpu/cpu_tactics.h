// Internal to backend/cpu: one function per tactic family (one family per file, tactic_*.cc).
// Each appends the tactics it has for `layer` (none when it does not take the layer), best guess
// first. cpu_backend.cc calls them all, explicitly.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace refit::cpu {

using TacticList = std::vector<std::unique_ptr<backend::Tactic>>;

// The convolution and GEMM families build costly descriptors (oneDNN primitives, geometries), and
// the elementwise family is in most layers of small graphs: given a tactic's `name`, they list at
// least that tactic and as few others as they can (its sub-family, "conv_dnnl" or
// "gemm_packed/avx2_4x24..." alone), so loading an engine does not create every tactic its build
// considered. An empty name lists them all.
void AddConvTactics(const backend::LayerDesc& layer, TacticList* out,
                    std::string_view name = {});  // tactic_conv*.cc
void AddGemmTactics(const backend::LayerDesc& layer, TacticList* out,
                    std::string_view name = {});                        // tactic_gemm*.cc
void AddPoolTactics(const backend::LayerDesc& layer, TacticList* out);  // tactic_pool.cc
void AddElementwiseTactics(const backend::LayerDesc& layer, TacticList* out,
                           std::string_view name = {});                      // tactic_eltwise*.cc
void AddNormTactics(const backend::LayerDesc& layer, TacticList* out);       // tactic_norm.cc
void AddSoftmaxTactics(const backend::LayerDesc& layer, TacticList* out);    // tactic_softmax.cc
void AddResizeTactics(const backend::LayerDesc& layer, TacticList* out);     // tactic_resize.cc
void AddPadTactics(const backend::LayerDesc& layer, TacticList* out);        // tactic_pad.cc
void AddConcatTactics(const backend::LayerDesc& layer, TacticList* out);     // tactic_concat.cc
void AddSliceTactics(const backend::LayerDesc& layer, TacticList* out);      // tactic_slice.cc
void AddTransposeTactics(const backend::LayerDesc& layer, TacticList* out);  // tactic_transpose.cc
void AddSplitTactics(const backend::LayerDesc& layer, TacticList* out);      // tactic_split.cc
void AddGatherTactics(const backend::LayerDesc& layer, TacticList* out);     // tactic_gather.cc
void AddReduceTactics(const backend::LayerDesc& layer, TacticList* out);     // tactic_reduce.cc
void AddReshapeTactics(const backend::LayerDesc& layer, TacticList* out);    // tactic_reshape.cc
void AddLogicTactics(const backend::LayerDesc& layer, TacticList* out);      // tactic_logic.cc
void AddExpandTactics(const backend::LayerDesc& layer, TacticList* out);     // tactic_expand.cc
void AddCastTactics(const backend::LayerDesc& layer, TacticList* out);       // tactic_cast.cc
void AddBatchNormTactics(const backend::LayerDesc& layer, TacticList* out);  // tactic_batchnorm.cc

}  // namespace refit::cpu
