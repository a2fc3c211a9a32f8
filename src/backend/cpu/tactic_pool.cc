// Pooling tactics for 2-D NCHW f32: MaxPool (without the Indices output), AveragePool,
// GlobalAveragePool and GlobalMaxPool. "pool/avx2" vectorises the window interior along the
// output row; "pool/generic" is the same loop nest in plain C++. "pool/avx2/in16c_out16c" (8c on
// AVX2-only machines) pools channel-blocked activations, a vector of channels per tap;
// "pool/avx2/in16c" reads them and writes NCHW: each output row pooled blocked into scratch and
// transposed to its planes (a ResNet stem's blocked output into a MaxPool whose output is a graph
// output or read plain), and for the global pools, whose [N, C, 1, 1] output is the same bytes in
// either layout, the reduction alone.
#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/pool_kernels.h"
#include "backend/cpu/transpose_f32.h"

namespace refit::cpu {
namespace {

using internal::PoolGeometry;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Output size and padding along one dim, as the reference's ComputeWindowGeometry does.
bool AxisGeometry(const std::string& auto_pad, bool ceil_mode, int64_t in, int64_t k,
                  int64_t stride, int64_t dilation, int64_t* pad_begin, int64_t* pad_end,
                  int64_t* out) {
  const int64_t extent = (k - 1) * dilation + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    *out = CeilDiv(in, stride);
    const int64_t total = std::max<int64_t>(0, (*out - 1) * stride + extent - in);
    *pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *pad_end = total - *pad_begin;
  } else if (auto_pad == "VALID") {
    *pad_begin = *pad_end = 0;
    *out = in >= extent ? (in - extent) / stride + 1 : 0;
  } else if (auto_pad == "NOTSET") {
    const int64_t span = in + *pad_begin + *pad_end - extent;
    if (span < 0) {
      *out = 0;
    } else if (ceil_mode) {
      *out = CeilDiv(span, stride) + 1;
      if ((*out - 1) * stride >= in + *pad_begin) --*out;
    } else {
      *out = span / stride + 1;
    }
  } else {
    return false;
  }
  return true;
}

// Taps [lo, hi) of output position o inside the input, and the count inside the padded input.
void AxisTaps(int64_t o, int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pad_begin,
              int64_t pad_end, int64_t* lo, int64_t* hi, int64_t* padded) {
  *lo = k;
  *hi = 0;
  *padded = 0;
  for (int64_t t = 0; t < k; ++t) {
    const int64_t i = o * stride + t * dilation - pad_begin;
    if (i >= 0 && i < in) {
      *lo = std::min(*lo, t);
      *hi = t + 1;
    }
    if (i >= -pad_begin && i < in + pad_end) ++*padded;
  }
  if (*hi <= *lo) *lo = *hi = 0;
}

std::optional<PoolGeometry> ParsePool(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty()) return std::nullopt;
  PoolGeometry g;
  const std::string& op = node.op_type;
  g.max = op == "MaxPool" || op == "GlobalMaxPool";
  g.global = op == "GlobalAveragePool" || op == "GlobalMaxPool";
  if (!g.global && op != "MaxPool" && op != "AveragePool") return std::nullopt;
  const backend::TensorDesc& x = layer.input(0);
  if (x.dtype != DataType::kF32 || x.shape.rank() != 4 || layer.outputs.empty() ||
      layer.outputs[0].dtype != DataType::kF32) {
    return std::nullopt;
  }
  // MaxPool's optional Indices output stays with the reference kernel.
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) return std::nullopt;
  g.planes = x.shape[0] * x.shape[1];
  g.batch = x.shape[0];
  g.ih = x.shape[2];
  g.iw = x.shape[3];
  if (g.global) {
    if (g.ih * g.iw == 0) return std::nullopt;
    g.oh = g.ow = 1;
    return g;
  }
  const ir::AttributeMap& a = node.attrs;
  auto kernel = a.GetInts("kernel_shape", {});
  auto strides = a.GetInts("strides", {1, 1});
  auto dilations = a.GetInts("dilations", {1, 1});
  auto pads = a.GetInts("pads", {0, 0, 0, 0});
  auto auto_pad = a.GetString("auto_pad", "NOTSET");
  auto ceil_mode = a.GetInt("ceil_mode", 0);
  auto include_pad = a.GetInt("count_include_pad", 0);
  auto storage_order = a.GetInt("storage_order", 0);
  if (!kernel.ok() || !strides.ok() || !dilations.ok() || !pads.ok() || !auto_pad.ok() ||
      !ceil_mode.ok() || !include_pad.ok() || !storage_order.ok() || kernel->size() != 2 ||
      strides->size() != 2 || dilations->size() != 2 || pads->size() != 4) {
    return std::nullopt;
  }
  for (int d = 0; d < 2; ++d) {
    if ((*kernel)[d] < 1 || (*strides)[d] < 1 || (*dilations)[d] < 1 || (*pads)[d] < 0 ||
        (*pads)[d + 2] < 0) {
      return std::nullopt;
    }
  }
  g.count_include_pad = *include_pad != 0;
  g.kh = (*kernel)[0];
  g.kw = (*kernel)[1];
  g.sh = (*strides)[0];
  g.sw = (*strides)[1];
  g.dh = (*dilations)[0];
  g.dw = (*dilations)[1];
  if (g.kh > internal::kMaxPoolKernelRows) return std::nullopt;
  int64_t pad_top = (*pads)[0], pad_left = (*pads)[1], pad_bottom = (*pads)[2],
          pad_right = (*pads)[3];
  if (!AxisGeometry(*auto_pad, *ceil_mode != 0, g.ih, g.kh, g.sh, g.dh, &pad_top, &pad_bottom,
                    &g.oh) ||
      !AxisGeometry(*auto_pad, *ceil_mode != 0, g.iw, g.kw, g.sw, g.dw, &pad_left, &pad_right,
                    &g.ow)) {
    return std::nullopt;
  }
  g.pad_top = pad_top;
  g.pad_left = pad_left;
  g.h_lo.resize(size_t(g.oh));
  g.h_hi.resize(size_t(g.oh));
  g.h_padded.resize(size_t(g.oh));
  for (int64_t o = 0; o < g.oh; ++o) {
    AxisTaps(o, g.ih, g.kh, g.sh, g.dh, pad_top, pad_bottom, &g.h_lo[o], &g.h_hi[o],
             &g.h_padded[o]);
  }
  g.w_lo.resize(size_t(g.ow));
  g.w_hi.resize(size_t(g.ow));
  g.w_padded.resize(size_t(g.ow));
  g.ow_lo = g.ow;
  g.ow_hi = 0;
  for (int64_t o = 0; o < g.ow; ++o) {
    AxisTaps(o, g.iw, g.kw, g.sw, g.dw, pad_left, pad_right, &g.w_lo[o], &g.w_hi[o],
             &g.w_padded[o]);
    if (g.w_lo[o] == 0 && g.w_hi[o] == g.kw) {
      g.ow_lo = std::min(g.ow_lo, o);
      g.ow_hi = o + 1;
    }
  }
  if (g.ow_hi <= g.ow_lo) g.ow_lo = g.ow_hi = 0;
  const Shape expected({x.shape[0], x.shape[1], g.oh, g.ow});
  if (layer.outputs[0].shape != expected) return std::nullopt;
  return g;
}

// The window interior without vector code.
void PoolInteriorGeneric(const PoolGeometry& g, const float* const* rows, int64_t nrows,
                         float scale, float* y_row) {
  for (int64_t o = g.ow_lo; o < g.ow_hi; ++o) {
    const int64_t first = o * g.sw - g.pad_left;
    float acc = g.max ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int64_t r = 0; r < nrows; ++r) {
      for (int64_t t = 0; t < g.kw; ++t) {
        const float v = rows[r][first + t * g.dw];
        acc = g.max ? std::max(acc, v) : acc + v;
      }
    }
    y_row[o] = g.max ? acc : acc * scale;
  }
}

float ReduceGeneric(bool max, const float* x, int64_t n) {
  float acc = max ? x[0] : 0.0f;
  for (int64_t i = 0; i < n; ++i) acc = max ? std::max(acc, x[i]) : acc + x[i];
  return acc;
}

class PoolKernel : public backend::Kernel {
 public:
  PoolKernel(PoolGeometry g, bool avx2, int block, bool out_blocked)
      : g_(std::move(g)), avx2_(avx2), block_(block), out_blocked_(out_blocked) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty()) {
      return InvalidArgument("pool kernel: expected one input and one output");
    }
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    const int64_t in_size = g_.ih * g_.iw, out_size = g_.oh * g_.ow;
    if (block_ > 0) {
      const int64_t b = block_, planes = g_.planes / b;
      if (g_.global) {
        ParallelFor(io.pool, planes, [&](int64_t begin, int64_t end) {
          for (int64_t p = begin; p < end; ++p) {
            internal::ReduceBlockedAvx2(g_.max, x + p * in_size * b, in_size, b,
                                        1.0f / float(in_size), y + p * b);
          }
        });
        return Status::Ok();
      }
      // Units of one output row of one block plane. A blocked output: (image, row, block),
      // blocks innermost, so with fewer images than threads each thread pools the same rows of
      // every block, as the blocked convolutions around it split them (conv_nchwc.cc). A plain
      // output: (plane, row), whole planes per thread as the plain tactics after it split them;
      // each row pooled blocked into scratch, then transposed to its b planes.
      const int64_t blocks = g_.planes / g_.batch / b;  // per image
      ParallelFor(io.pool, planes * g_.oh, [&](int64_t begin, int64_t end) {
        thread_local ScratchFloats scratch;
        float* rows = out_blocked_ ? nullptr : scratch.Get(size_t(out_size * b));
        for (int64_t u = begin; u < end; ++u) {
          const int64_t p = out_blocked_ ? u / blocks / g_.oh * blocks + u % blocks : u / g_.oh;
          const int64_t oh = out_blocked_ ? u / blocks % g_.oh : u % g_.oh;
          if (out_blocked_) {
            internal::PoolBlockedAvx2(g_, b, oh, oh + 1, x + p * in_size * b, y + p * out_size * b);
            continue;
          }
          internal::PoolBlockedAvx2(g_, b, oh, oh + 1, x + p * in_size * b, rows);
          TransposeF32(rows + oh * g_.ow * b, b, g_.ow, b, y + p * b * out_size + oh * g_.ow,
                       out_size);
        }
      });
      return Status::Ok();
    }
    if (g_.global) {
      const auto reduce =
          avx2_ ? (g_.max ? &internal::ReduceMaxAvx2 : &internal::ReduceSumAvx2) : nullptr;
      const float inv = 1.0f / float(in_size);
      ParallelFor(io.pool, g_.planes, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const float* xp = x + p * in_size;
          const float r =
              reduce != nullptr ? reduce(xp, in_size) : ReduceGeneric(g_.max, xp, in_size);
          y[p] = g_.max ? r : float(r * inv);
        }
      });
      return Status::Ok();
    }
    ParallelFor(io.pool, g_.planes, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          Row(x + p * in_size, oh, y + p * out_size + oh * g_.ow);
      }
    });
    return Status::Ok();
  }

 private:
  // One output row: window borders in scalar code, the interior through the row kernel.
  void Row(const float* x, int64_t oh, float* y_row) const {
    const float* rows[internal::kMaxPoolKernelRows];
    const int64_t lo = g_.h_lo[oh], hi = g_.h_hi[oh];
    const int64_t nrows = hi - lo;
    for (int64_t r = lo; r < hi; ++r)
      rows[r - lo] = x + (oh * g_.sh + r * g_.dh - g_.pad_top) * g_.iw;
    const int64_t h_count = g_.count_include_pad ? g_.h_padded[oh] : nrows;
    const float empty = g_.max ? std::numeric_limits<float>::lowest() : 0.0f;
    for (int64_t o = 0; o < g_.ow; ++o) {
      if (o == g_.ow_lo && g_.ow_hi > g_.ow_lo && nrows > 0) {
        const float scale = 1.0f / float(h_count * g_.kw);
        (avx2_ ? &internal::PoolInteriorAvx2 : &PoolInteriorGeneric)(g_, rows, nrows, scale, y_row);
        o = g_.ow_hi - 1;
        continue;
      }
      const int64_t first = o * g_.sw - g_.pad_left;
      const int64_t count =
          h_count * (g_.count_include_pad ? g_.w_padded[o] : g_.w_hi[o] - g_.w_lo[o]);
      if (nrows == 0 || g_.w_hi[o] == g_.w_lo[o] || count == 0) {
        y_row[o] = empty;
        continue;
      }
      float acc = g_.max ? -std::numeric_limits<float>::infinity() : 0.0f;
      for (int64_t r = 0; r < nrows; ++r) {
        for (int64_t t = g_.w_lo[o]; t < g_.w_hi[o]; ++t) {
          const float v = rows[r][first + t * g_.dw];
          acc = g_.max ? std::max(acc, v) : acc + v;
        }
      }
      y_row[o] = g_.max ? acc : acc / float(count);
    }
  }

  PoolGeometry g_;
  bool avx2_;
  int block_;         // channel block of the input; 0: plain
  bool out_blocked_;  // the output in the input's block (never for a global pool)
};

class PoolTactic : public backend::Tactic {
 public:
  // `block` > 0: blocked input, and output too when `out_blocked` (not for a global pool).
  PoolTactic(PoolGeometry g, bool avx2, int block = 0, bool out_blocked = false)
      : g_(std::move(g)), avx2_(avx2), block_(block), out_blocked_(out_blocked && !g_.global) {}
  std::string name() const override {
    return (avx2_ ? "pool/avx2" : "pool/generic") + BlockedIoSuffix(InputBlock(), OutputBlock());
  }
  std::string required_features() const override { return avx2_ ? Avx2Features() : ""; }
  int InputBlock() const override { return block_; }
  int OutputBlock() const override { return out_blocked_ ? block_ : 0; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (avx2_ && !DetectCpuFeatures().Covers(Avx2())) {
      return FailedPrecondition("pool/avx2 needs CPU features '" + Avx2Features() +
                                "'; this CPU lacks '" + DetectCpuFeatures().Missing(Avx2()) + "'");
    }
    return std::unique_ptr<backend::Kernel>(new PoolKernel(g_, avx2_, block_, out_blocked_));
  }
  static CpuFeatures Avx2() {
    CpuFeatures f;
    f.avx = f.avx2 = f.fma = true;
    return f;
  }
  static std::string Avx2Features() { return Avx2().ToString(); }

 private:
  PoolGeometry g_;
  bool avx2_;
  int block_;
  bool out_blocked_;
};

}  // namespace

void AddPoolTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<PoolGeometry> g = ParsePool(layer);
  if (!g) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.Covers(PoolTactic::Avx2())) {
    out->push_back(std::make_unique<PoolTactic>(*g, true));
    const int block = ActivationBlock();
    if (block > 0 && layer.input(0).shape[1] % block == 0) {
      out->push_back(std::make_unique<PoolTactic>(*g, true, block, false));
      if (!g->global) out->push_back(std::make_unique<PoolTactic>(*g, true, block, true));
    }
  }
  out->push_back(std::make_unique<PoolTactic>(*g, false));
}

}  // namespace refit::cpu
