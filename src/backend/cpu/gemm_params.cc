#include "backend/cpu/gemm_params.h"

#include <algorithm>
#include <string>

namespace refit::cpu {
namespace {

bool IsF32(const backend::TensorDesc& d) { return d.present() && d.dtype == DataType::kF32; }

// Matrix index of every output matrix of a broadcast batched MatMul (as numpy does).
bool BroadcastBatch(const std::vector<int64_t>& a_batch, const std::vector<int64_t>& b_batch,
                    GemmLayer* g) {
  const size_t rank = std::max(a_batch.size(), b_batch.size());
  std::vector<int64_t> a(rank, 1), b(rank, 1), out(rank);
  std::copy(a_batch.begin(), a_batch.end(), a.begin() + int64_t(rank - a_batch.size()));
  std::copy(b_batch.begin(), b_batch.end(), b.begin() + int64_t(rank - b_batch.size()));
  int64_t total = 1;
  g->b_matrices = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (a[d] != b[d] && a[d] != 1 && b[d] != 1) return false;
    out[d] = a[d] == 1 ? b[d] : a[d];
    total *= out[d];
    g->b_matrices *= b[d];
  }
  g->a_index.assign(size_t(total), 0);
  g->b_index.assign(size_t(total), 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, a_off = 0, b_off = 0, a_stride = 1, b_stride = 1;
    for (size_t d = rank; d-- > 0;) {
      const int64_t idx = rem % out[d];
      rem /= out[d];
      a_off += (a[d] == 1 ? 0 : idx) * a_stride;
      b_off += (b[d] == 1 ? 0 : idx) * b_stride;
      a_stride *= a[d];
      b_stride *= b[d];
    }
    g->a_index[size_t(i)] = a_off;
    g->b_index[size_t(i)] = b_off;
  }
  return true;
}

bool ParseMatMul(const backend::LayerDesc& layer, GemmLayer* g) {
  std::vector<int64_t> ad = layer.input(0).shape.dims(), bd = layer.input(1).shape.dims();
  if (ad.empty() || bd.size() < 2) return false;  // a 1-D B drops the last dim: reference only
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  g->k = ad.back();
  g->n = bd.back();
  if (bd[bd.size() - 2] != g->k) return false;
  if (bd.size() == 2) {
    // One B matrix: every leading dim of A folds into M.
    g->m = 1;
    for (size_t d = 0; d + 1 < ad.size(); ++d) g->m *= ad[d];
    g->a_index = {0};
    g->b_index = {0};
    g->weight_b = layer.is_weight(1);
    return true;
  }
  g->m = ad[ad.size() - 2];
  return BroadcastBatch(std::vector<int64_t>(ad.begin(), ad.end() - 2),
                        std::vector<int64_t>(bd.begin(), bd.end() - 2), g);
}

bool ParseGemm(const backend::LayerDesc& layer, GemmLayer* g) {
  const ir::AttributeMap& attrs = layer.node->attrs;
  const auto trans_a = attrs.GetInt("transA", 0), trans_b = attrs.GetInt("transB", 0);
  const auto alpha = attrs.GetFloat("alpha", 1.0f), beta = attrs.GetFloat("beta", 1.0f);
  if (!trans_a.ok() || !trans_b.ok() || !alpha.ok() || !beta.ok()) return false;
  g->trans_a = *trans_a != 0;
  g->trans_b = *trans_b != 0;
  g->alpha = *alpha;
  g->beta = *beta;
  const Shape& as = layer.input(0).shape;
  const Shape& bs = layer.input(1).shape;
  if (as.rank() != 2 || bs.rank() != 2) return false;
  g->m = g->trans_a ? as[1] : as[0];
  g->k = g->trans_a ? as[0] : as[1];
  g->n = g->trans_b ? bs[0] : bs[1];
  if ((g->trans_b ? bs[1] : bs[0]) != g->k) return false;
  g->a_index = {0};
  g->b_index = {0};
  g->weight_b = layer.is_weight(1);
  const backend::TensorDesc& c = layer.input(2);
  if (!c.present()) return true;
  if (!IsF32(c)) return false;
  const Shape& cs = c.shape;
  if (cs.rank() > 2) return false;
  const int64_t rows = cs.rank() == 2 ? cs[0] : 1;
  const int64_t cols = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
  if ((rows != 1 && rows != g->m) || (cols != 1 && cols != g->n)) return false;
  // A dim equal to 1 broadcasts even when m or n is 1 too; either reading gives the same values.
  if (rows == 1 && cols == 1) {
    g->c_form = BiasForm::kScalar;
  } else if (rows == 1) {
    g->c_form = BiasForm::kRow;
  } else if (cols == 1) {
    g->c_form = BiasForm::kColumn;
  } else {
    g->c_form = BiasForm::kFull;
  }
  g->weight_c = layer.is_weight(2);
  return true;
}

}  // namespace

std::optional<GemmLayer> ParseGemmLayer(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || (node.op_type != "Gemm" && node.op_type != "MatMul")) {
    return std::nullopt;
  }
  if (!IsF32(layer.input(0)) || !IsF32(layer.input(1)) || layer.outputs.size() != 1 ||
      layer.outputs[0].dtype != DataType::kF32) {
    return std::nullopt;
  }
  GemmLayer g;
  const bool ok = node.op_type == "Gemm" ? ParseGemm(layer, &g) : ParseMatMul(layer, &g);
  if (!ok || g.m < 0 || g.n < 0 || g.k < 0) return std::nullopt;
  if (layer.outputs[0].shape.NumElements() != g.batch() * g.m * g.n) return std::nullopt;
  StatusOr<ir::FusedActivation> act = ir::GetFusedActivation(node);
  if (!act.ok()) return std::nullopt;
  g.act = *act;
  return g;
}

Shape PackedGemmBiasShape(const GemmLayer& g, const Shape& c) {
  return Shape({g.row_bias() ? g.n : c.NumElements()});
}

StatusOr<Tensor> PackGemmBias(const GemmLayer& g, const Tensor& c) {
  if (c.dtype() != DataType::kF32) return InvalidArgument("Gemm C must be f32");
  const int64_t count = g.row_bias() ? g.n : c.NumElements();
  const int64_t expected = g.c_form == BiasForm::kRow      ? g.n
                           : g.c_form == BiasForm::kScalar ? 1
                           : g.c_form == BiasForm::kColumn ? g.m
                                                           : g.m * g.n;
  if (c.NumElements() != expected) {
    return InvalidArgument("Gemm C: expected " + std::to_string(expected) + " elements, found " +
                           c.shape().ToString());
  }
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(DataType::kF32, Shape({count})));
  const float* src = c.data_as<float>();
  float* dst = out.mutable_data_as<float>();
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = g.beta * src[g.c_form == BiasForm::kScalar ? 0 : i];
  }
  return out;
}

StatusOr<Tensor> ScaledWeight(const GemmLayer& g, const Tensor& b) {
  if (b.dtype() != DataType::kF32 || b.NumElements() != g.k * g.n) {
    return InvalidArgument("GEMM weight B: expected " + std::to_string(g.k * g.n) +
                           " f32 elements, found " + b.shape().ToString());
  }
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::CopyOf(b.view()));
  if (g.alpha != 1.0f) {
    float* p = out.mutable_data_as<float>();
    for (int64_t i = 0; i < out.NumElements(); ++i) p[i] *= g.alpha;
  }
  return out;
}

void BiasStrides(const GemmLayer& g, int64_t* row_stride, int64_t* col_stride) {
  *row_stride = 0;
  *col_stride = 0;
  if (g.c_form == BiasForm::kRow || (g.c_form == BiasForm::kScalar && g.weight_c)) {
    *col_stride = 1;
  } else if (g.c_form == BiasForm::kColumn) {
    *row_stride = 1;
  } else if (g.c_form == BiasForm::kFull) {
    *row_stride = g.n;
    *col_stride = 1;
  }
}

void ForEachGemm(const GemmLayer& g, ThreadPool* pool,
                 const std::function<void(int64_t, ThreadPool*)>& fn) {
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  if (g.batch() > 1 && threads > 1 && g.batch() >= threads) {
    ParallelFor(pool, g.batch(), [&fn](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fn(i, nullptr);
    });
    return;
  }
  for (int64_t i = 0; i < g.batch(); ++i) fn(i, pool);
}

Status CheckGemmInputs(const GemmLayer& g, const backend::KernelIo& io, size_t packed_b_floats) {
  if (io.inputs.size() < 2 || io.inputs[0] == nullptr || io.inputs[1] == nullptr ||
      io.outputs.empty() || io.outputs[0] == nullptr) {
    return InvalidArgument("GEMM kernel: expected inputs A and B and one output");
  }
  if (g.weight_b && size_t(io.inputs[1]->NumElements()) != packed_b_floats) {
    return InvalidArgument("GEMM kernel: packed B has " +
                           std::to_string(io.inputs[1]->NumElements()) + " floats, expected " +
                           std::to_string(packed_b_floats) + " (packed by another tactic?)");
  }
  if (g.c_form != BiasForm::kNone && (io.inputs.size() < 3 || io.inputs[2] == nullptr)) {
    return InvalidArgument("GEMM kernel: C is missing");
  }
  return Status::Ok();
}

}  // namespace refit::cpu
