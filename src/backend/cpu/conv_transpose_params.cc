#include "backend/cpu/conv_transpose_params.h"

#include <string>
#include <vector>

namespace refit::cpu {
namespace {

bool IsF32(const backend::TensorDesc& d, size_t rank) {
  return d.dtype == DataType::kF32 && d.shape.rank() == rank;
}

// Python's floor division by 2 (the total padding is negative when output_shape exceeds the
// full output).
int64_t FloorDiv2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

struct Attrs {
  std::vector<int64_t> kernel_shape, strides, dilations, pads, output_padding, output_shape;
  std::string auto_pad;
  int64_t group = 1;
};

bool ReadAttrs(const ir::AttributeMap& attrs, int64_t kh, int64_t kw, Attrs* a) {
  auto group = attrs.GetInt("group", 1);
  auto kernel_shape = attrs.GetInts("kernel_shape", {kh, kw});
  auto strides = attrs.GetInts("strides", {1, 1});
  auto dilations = attrs.GetInts("dilations", {1, 1});
  auto pads = attrs.GetInts("pads", {0, 0, 0, 0});
  auto output_padding = attrs.GetInts("output_padding", {0, 0});
  auto output_shape = attrs.GetInts("output_shape");
  auto auto_pad = attrs.GetString("auto_pad", "NOTSET");
  if (!group.ok() || !kernel_shape.ok() || !strides.ok() || !dilations.ok() || !pads.ok() ||
      !output_padding.ok() || !output_shape.ok() || !auto_pad.ok()) {
    return false;
  }
  a->group = *group;
  a->kernel_shape = *kernel_shape;
  a->strides = *strides;
  a->dilations = *dilations;
  a->pads = *pads;
  a->output_padding = *output_padding;
  a->output_shape = *output_shape;
  a->auto_pad = *auto_pad;
  // output_shape may name the full output shape (N, C, H, W) or only the spatial part.
  if (a->output_shape.size() == 4)
    a->output_shape.erase(a->output_shape.begin(), a->output_shape.begin() + 2);
  return a->kernel_shape == std::vector<int64_t>{kh, kw} && a->strides.size() == 2 &&
         a->dilations.size() == 2 && a->pads.size() == 4 && a->output_padding.size() == 2 &&
         (a->output_shape.empty() || a->output_shape.size() == 2) &&
         (a->auto_pad == "NOTSET" || a->auto_pad == "VALID" || a->auto_pad == "SAME_UPPER" ||
          a->auto_pad == "SAME_LOWER");
}

// Output size and begin padding of spatial dim d, as the reference computes them.
bool SpatialDim(const Attrs& a, size_t d, int64_t in, int64_t kernel, int64_t* out,
                int64_t* pad_begin) {
  const bool same = a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER";
  const int64_t full =
      a.strides[d] * (in - 1) + a.output_padding[d] + (kernel - 1) * a.dilations[d] + 1;
  if (!a.output_shape.empty() || same) {
    *out = !a.output_shape.empty() ? a.output_shape[d] : in * a.strides[d];
    const int64_t total = full - *out;
    *pad_begin = a.auto_pad == "SAME_UPPER" ? FloorDiv2(total) : total - FloorDiv2(total);
  } else if (a.auto_pad == "VALID") {
    *out = full;
    *pad_begin = 0;
  } else {
    *out = full - a.pads[d] - a.pads[d + 2];
    *pad_begin = a.pads[d];
  }
  return *out >= 1;
}

}  // namespace

std::optional<ConvTransposeParams> ParseConvTransposeLayer(const backend::LayerDesc& layer) {
  if (layer.node == nullptr || layer.node->op_type != "ConvTranspose" ||
      !layer.node->domain.empty() || layer.inputs.size() < 2 || layer.outputs.empty()) {
    return std::nullopt;
  }
  const backend::TensorDesc& x = layer.input(0);
  const backend::TensorDesc& w = layer.input(1);
  const backend::TensorDesc& b = layer.input(2);
  if (!IsF32(x, 4) || !IsF32(w, 4) || !layer.is_weight(1) || !IsF32(layer.outputs[0], 4)) {
    return std::nullopt;
  }
  ConvTransposeParams p;
  p.has_bias = b.present();
  if (p.has_bias && (!IsF32(b, 1) || !layer.is_weight(2))) return std::nullopt;
  p.batch = x.shape[0];
  p.in_c = x.shape[1];
  p.in_h = x.shape[2];
  p.in_w = x.shape[3];
  p.kernel_h = w.shape[2];
  p.kernel_w = w.shape[3];
  Attrs a;
  auto act = ir::GetFusedActivation(*layer.node);
  if (!act.ok() || !ReadAttrs(layer.node->attrs, p.kernel_h, p.kernel_w, &a)) return std::nullopt;
  p.act = *act;
  p.group = a.group;
  p.stride_h = a.strides[0];
  p.stride_w = a.strides[1];
  p.dilation_h = a.dilations[0];
  p.dilation_w = a.dilations[1];
  if (p.group < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 ||
      p.kernel_h < 1 || p.kernel_w < 1 || p.batch < 1 || w.shape[0] != p.in_c ||
      p.in_c % p.group != 0) {
    return std::nullopt;
  }
  p.out_c = w.shape[1] * p.group;
  if (p.has_bias && b.shape[0] != p.out_c) return std::nullopt;
  if (!SpatialDim(a, 0, p.in_h, p.kernel_h, &p.out_h, &p.pad_top) ||
      !SpatialDim(a, 1, p.in_w, p.kernel_w, &p.out_w, &p.pad_left)) {
    return std::nullopt;
  }
  const Shape expected{p.batch, p.out_c, p.out_h, p.out_w};
  if (layer.outputs[0].shape != expected) return std::nullopt;
  return p;
}

}  // namespace refit::cpu
