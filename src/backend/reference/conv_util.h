// Internal helpers shared by the reference Conv, ConvTranspose and pooling kernels: the spatial
// geometry (kernel, strides, dilations, pads, auto_pad, output size) and the float/double compute
// buffers that f16/bf16 go through.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "refit/tensor.h"

namespace refit::reference {

// Spatial geometry of a convolution or pooling window over `rank` spatial dims.
struct WindowGeometry {
  size_t rank = 0;
  std::vector<int64_t> in, kernel, strides, dilations, pads_begin, pads_end, out;

  int64_t InSize() const;      // product of `in`
  int64_t OutSize() const;     // product of `out`
  int64_t KernelSize() const;  // product of `kernel`
  // Extent of the dilated kernel along dim d.
  int64_t Extent(size_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

// Reads strides, dilations, pads and auto_pad from the node (kernel and input sizes are given)
// and computes the output size. `ceil_mode` rounds the NOTSET output size up, dropping a last
// window that would start inside the end padding (as PyTorch and ONNX Runtime do).
// `allow_dilations` is false for operators without the attribute.
StatusOr<WindowGeometry> ComputeWindowGeometry(const KernelContext& ctx,
                                               const std::vector<int64_t>& in_spatial,
                                               const std::vector<int64_t>& kernel, bool ceil_mode,
                                               bool allow_dilations = true);

// The ConvTranspose kernel (ops_conv_transpose.cc), registered by RegisterConvOps.
Status ConvTransposeKernel(KernelContext& ctx);

// "[1,2,3]" for error messages.
std::string DimsToString(const std::vector<int64_t>& dims);

// The type the reference computes T in: double for f64, float for f32, f16 and bf16.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, double>, double, float>;

// `t`'s elements as ComputeType<T>: t's own memory when T already is that type, otherwise a
// converted copy held in `storage`.
template <typename T, typename Acc = ComputeType<T>>
const Acc* ComputeData(const Tensor& t, std::vector<Acc>& storage) {
  if constexpr (std::is_same_v<T, Acc>) {
    return t.data_as<T>();
  } else {
    const T* p = t.data_as<T>();
    storage.resize(size_t(t.NumElements()));
    for (size_t i = 0; i < storage.size(); ++i) storage[i] = Acc(float(p[i]));
    return storage.data();
  }
}

// Where a kernel writes its ComputeType<T> results for `out`: out's own memory when the types
// match, otherwise `storage`; StoreResult() then rounds storage into out.
template <typename T, typename Acc = ComputeType<T>>
Acc* ResultBuffer(Tensor& out, std::vector<Acc>& storage) {
  if constexpr (std::is_same_v<T, Acc>) {
    return out.mutable_data_as<T>();
  } else {
    storage.assign(size_t(out.NumElements()), Acc(0));
    return storage.data();
  }
}

template <typename T, typename Acc = ComputeType<T>>
void StoreResult(Tensor& out, const std::vector<Acc>& storage) {
  if constexpr (!std::is_same_v<T, Acc>) {
    T* p = out.mutable_data_as<T>();
    for (size_t i = 0; i < storage.size(); ++i) p[i] = T(float(storage[i]));
  }
}

// Conv and ConvTranspose operands: X of rank >= 3, W of the same rank, X, W and the optional B
// of one dtype. The error names the node and the shapes or dtypes found.
Status CheckConvOperands(const KernelContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor* b);

// Conv and ConvTranspose with `maps` output channels: the optional B is [maps], and the
// kernel_shape attribute (when present) equals W's spatial dims. Returns the kernel's spatial dims.
StatusOr<std::vector<int64_t>> CheckConvBiasAndKernel(const KernelContext& ctx, const Tensor& w,
                                                      const Tensor* b, int64_t maps);

}  // namespace refit::reference
