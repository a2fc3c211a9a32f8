#include "backend/cpu/conv_params.h"

#include <algorithm>
#include <string>
#include <vector>

namespace refit::cpu {
namespace {

bool IsF32(const backend::TensorDesc& d, size_t rank) {
  return d.dtype == DataType::kF32 && d.shape.rank() == rank;
}

// X f32 of rank 4 (2-D) or 3 (1-D: taken as 2-D with height 1, the same bytes), W an f32 weight
// of the same rank, B absent or a [M] f32 weight. Returns false when the layer does not fit.
bool CheckOperands(const backend::LayerDesc& layer, ConvParams* p, size_t* rank) {
  if (layer.inputs.size() < 2 || layer.outputs.empty() || !layer.node->domain.empty()) {
    return false;
  }
  const backend::TensorDesc& x = layer.input(0);
  const backend::TensorDesc& w = layer.input(1);
  const backend::TensorDesc& b = layer.input(2);
  *rank = x.shape.rank();
  const size_t r = *rank;
  if ((r != 3 && r != 4) || !IsF32(x, r) || !IsF32(w, r) || !layer.is_weight(1) ||
      !IsF32(layer.outputs[0], r)) {
    return false;
  }
  const bool is_1d = r == 3;
  p->has_bias = b.present();
  if (p->has_bias && (!IsF32(b, 1) || !layer.is_weight(2))) return false;
  p->batch = x.shape[0];
  p->in_c = x.shape[1];
  p->in_h = is_1d ? 1 : x.shape[2];
  p->in_w = x.shape[r - 1];
  p->kernel_h = is_1d ? 1 : w.shape[2];
  p->kernel_w = w.shape[r - 1];
  const std::vector<int64_t> ones(r - 2, 1);
  const std::vector<int64_t> kernel =
      is_1d ? std::vector<int64_t>{p->kernel_w} : std::vector<int64_t>{p->kernel_h, p->kernel_w};
  const ir::AttributeMap& attrs = layer.node->attrs;
  auto group = attrs.GetInt("group", 1);
  auto kernel_shape = attrs.GetInts("kernel_shape", kernel);
  auto strides = attrs.GetInts("strides", ones);
  auto dilations = attrs.GetInts("dilations", ones);
  auto act = ir::GetFusedActivation(*layer.node);
  if (!group.ok() || !kernel_shape.ok() || !strides.ok() || !dilations.ok() || !act.ok()) {
    return false;
  }
  if (*kernel_shape != kernel || strides->size() != r - 2 || dilations->size() != r - 2) {
    return false;
  }
  p->group = *group;
  p->stride_h = is_1d ? 1 : (*strides)[0];
  p->stride_w = strides->back();
  p->dilation_h = is_1d ? 1 : (*dilations)[0];
  p->dilation_w = dilations->back();
  p->act = *act;
  return p->group >= 1 && p->stride_h >= 1 && p->stride_w >= 1 && p->dilation_h >= 1 &&
         p->dilation_w >= 1 && p->kernel_h >= 1 && p->kernel_w >= 1 && p->batch >= 1;
}

// Explicit pads (NOTSET); the caller splits SAME padding once the output size is known.
bool ReadPads(const ir::AttributeMap& attrs, size_t rank, ConvParams* p, std::string* auto_pad) {
  const size_t spatial = rank - 2;
  auto pads = attrs.GetInts("pads", std::vector<int64_t>(2 * spatial, 0));
  auto mode = attrs.GetString("auto_pad", "NOTSET");
  if (!pads.ok() || !mode.ok() || pads->size() != 2 * spatial) return false;
  for (int64_t v : *pads) {
    if (v < 0) return false;
  }
  *auto_pad = *mode;
  if (*mode == "NOTSET") {
    // ONNX order: every axis's begin, then every axis's end.
    p->pad_top = spatial == 2 ? (*pads)[0] : 0;
    p->pad_left = (*pads)[spatial - 1];
    p->pad_bottom = spatial == 2 ? (*pads)[2] : 0;
    p->pad_right = (*pads)[2 * spatial - 1];
    return true;
  }
  p->pad_top = p->pad_left = p->pad_bottom = p->pad_right = 0;
  return *mode == "VALID" || *mode == "SAME_UPPER" || *mode == "SAME_LOWER";
}

// Splits `total` SAME padding: SAME_UPPER puts the odd element at the end.
void SplitSame(const std::string& mode, int64_t total, int64_t* begin, int64_t* end) {
  total = std::max<int64_t>(0, total);
  *begin = mode == "SAME_UPPER" ? total / 2 : total - total / 2;
  *end = total - *begin;
}

}  // namespace

bool ConvParams::pointwise() const {
  return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
         pad_left == 0 && pad_bottom == 0 && pad_right == 0;
}

std::optional<ConvParams> ParseConvLayer(const backend::LayerDesc& layer) {
  ConvParams p;
  size_t rank = 0;
  if (layer.node == nullptr || layer.node->op_type != "Conv" || !CheckOperands(layer, &p, &rank)) {
    return std::nullopt;
  }
  const Shape& ws = layer.input(1).shape;
  p.out_c = ws[0];
  if (ws[1] * p.group != p.in_c || p.out_c % p.group != 0) return std::nullopt;
  if (p.has_bias && layer.input(2).shape[0] != p.out_c) return std::nullopt;
  std::string mode;
  if (!ReadPads(layer.node->attrs, rank, &p, &mode)) return std::nullopt;
  const int64_t ext_h = (p.kernel_h - 1) * p.dilation_h + 1;
  const int64_t ext_w = (p.kernel_w - 1) * p.dilation_w + 1;
  if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    p.out_h = (p.in_h + p.stride_h - 1) / p.stride_h;
    p.out_w = (p.in_w + p.stride_w - 1) / p.stride_w;
    SplitSame(mode, (p.out_h - 1) * p.stride_h + ext_h - p.in_h, &p.pad_top, &p.pad_bottom);
    SplitSame(mode, (p.out_w - 1) * p.stride_w + ext_w - p.in_w, &p.pad_left, &p.pad_right);
  } else {
    const int64_t span_h = p.in_h + p.pad_top + p.pad_bottom - ext_h;
    const int64_t span_w = p.in_w + p.pad_left + p.pad_right - ext_w;
    if (span_h < 0 || span_w < 0) return std::nullopt;
    p.out_h = span_h / p.stride_h + 1;
    p.out_w = span_w / p.stride_w + 1;
  }
  const Shape expected =
      rank == 3 ? Shape{p.batch, p.out_c, p.out_w} : Shape{p.batch, p.out_c, p.out_h, p.out_w};
  if (layer.outputs[0].shape != expected) return std::nullopt;
  // A fused residual (ir/fused_ops.h): input 3, an f32 activation of the output's shape. Any other
  // extra input is not a Conv these tactics know.
  p.residual = ir::HasFusedResidual(*layer.node);
  if (p.residual) {
    const backend::TensorDesc& z = layer.input(ir::kResidualInput);
    if (layer.inputs.size() != ir::kResidualInput + 1 || !z.present() ||
        layer.is_weight(ir::kResidualInput) || z.dtype != DataType::kF32 || z.shape != expected) {
      return std::nullopt;
    }
  } else if (layer.inputs.size() > ir::kResidualInput) {
    return std::nullopt;
  }
  return p;
}

ConvOperands ConvOperandsOf(const backend::KernelIo& io) {
  ConvOperands op;
  op.x = io.inputs[0]->data_as<float>();
  op.w = io.inputs[1]->data_as<float>();
  if (io.inputs.size() > 2 && io.inputs[2] != nullptr) op.bias = io.inputs[2]->data_as<float>();
  op.y = io.outputs[0]->mutable_data_as<float>();
  return op;
}

}  // namespace refit::cpu
