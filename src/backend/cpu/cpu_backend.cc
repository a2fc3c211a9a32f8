#include "backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <dlfcn.h>

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {
namespace {

// Raised whenever a tactic is added, removed or changes what it computes fast, so a timing cache
// written by an earlier refit is not used (its layers would miss the new tactics). 2: tactics with
// channel-blocked activations. 3: elementwise tactics over channel-blocked activations. 4:
// conv_nchwc, channel-blocked pooling, Convs with a fused residual. 5: conv_winograd's input
// transform without masked stores, conv_nchwc's NCHW output through a blocked row. 8: conv_winograd
// on channel-blocked activations.
constexpr int kTacticsRevision = 8;

class CpuBackend : public backend::Backend {
 public:
  std::string name() const override { return "cpu"; }
  // "cpu tactics <revision>; <features>; <model name>; oneDNN <version>; OpenBLAS <config>".
  std::string fingerprint() const override {
    static const std::string fp = [] {
      const dnnl_version_t* v = dnnl_version();
      return "cpu tactics " + std::to_string(kTacticsRevision) + "; " +
             DetectCpuFeatures().ToString() + "; " + CpuModelName() + "; oneDNN " +
             std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
             std::to_string(v->patch) + "; " + openblas_get_config();
    }();
    return fp;
  }
  std::vector<std::unique_ptr<backend::Tactic>> Tactics(
      const backend::LayerDesc& layer) const override {
    TacticList out;
    if (!Static(layer)) return out;
    for (const Family& f : kFamilies) f.add(layer, &out, {});
    DropUnseenThreads(&out);
    return out;
  }

  // An engine load looks up one tactic per layer: the families whose prefix the name starts with
  // are asked (the convolution and GEMM ones list only the named tactic), then, for a name no
  // prefix claims, every family.
  StatusOr<std::unique_ptr<backend::Tactic>> FindTactic(const backend::LayerDesc& layer,
                                                        const std::string& name) const override {
    if (Static(layer)) {
      for (const bool by_prefix : {true, false}) {
        for (const Family& f : kFamilies) {
          if (f.Claims(name) != by_prefix) continue;
          TacticList out;
          f.add(layer, &out, name);
          DropUnseenThreads(&out);
          for (std::unique_ptr<backend::Tactic>& t : out) {
            if (t->name() == name) return std::move(t);
          }
        }
      }
    }
    return NotFound(layer.Label() + ": backend 'cpu' has no tactic '" + name +
                    "' for this layer on this machine");
  }

 private:
  using Adder = void (*)(const backend::LayerDesc&, TacticList*, std::string_view);
  template <void (*F)(const backend::LayerDesc&, TacticList*)>
  static void Plain(const backend::LayerDesc& layer, TacticList* out, std::string_view) {
    F(layer, out);
  }
  // Each family's adder, once, with the prefixes its tactic names start with ('|' between).
  struct Family {
    std::string_view prefixes;
    Adder add;
    bool Claims(std::string_view name) const {
      for (std::string_view rest = prefixes; !rest.empty();) {
        const size_t bar = std::min(rest.find('|'), rest.size());
        if (name.starts_with(rest.substr(0, bar))) return true;
        rest.remove_prefix(std::min(bar + 1, rest.size()));
      }
      return false;
    }
  };
  static constexpr Family kFamilies[] = {
      {"conv_", &AddConvTactics},
      {"gemm_", &AddGemmTactics},
      {"pool/", &Plain<AddPoolTactics>},
      {"eltwise/", &AddElementwiseTactics},
      {"norm/", &Plain<AddNormTactics>},
      {"softmax/", &Plain<AddSoftmaxTactics>},
      {"resize/", &Plain<AddResizeTactics>},
      {"pad/", &Plain<AddPadTactics>},
      {"concat/", &Plain<AddConcatTactics>},
      {"slice/", &Plain<AddSliceTactics>},
      {"transpose/", &Plain<AddTransposeTactics>},
      {"reshape/", &Plain<AddReshapeTactics>},
      {"split/", &Plain<AddSplitTactics>},
      {"gather/", &Plain<AddGatherTactics>},
      {"reduce/", &Plain<AddReduceTactics>},
      {"compare/|logic/|where/", &Plain<AddLogicTactics>},
      {"expand/", &Plain<AddExpandTactics>},
      {"cast/", &Plain<AddCastTactics>},
      {"batchnorm/", &Plain<AddBatchNormTactics>},
  };

  // Dynamic shapes are the reference backend's alone.
  static bool Static(const backend::LayerDesc& layer) {
    for (const backend::TensorDesc& d : layer.inputs) {
      if (d.dynamic) return false;
    }
    for (const backend::TensorDesc& d : layer.outputs) {
      if (d.dynamic) return false;
    }
    return true;
  }

  static void DropUnseenThreads([[maybe_unused]] TacticList* out) {
#if defined(__SANITIZE_THREAD__)
    // oneDNN (OpenMP) and OpenBLAS run threads ThreadSanitizer cannot see into, so it reports
    // their scratch and output writes as races. TSan builds test our own kernels only.
    std::erase_if(*out, [](const std::unique_ptr<backend::Tactic>& t) {
      const std::string name = t->name();
      return name.find("dnnl") != std::string::npos || name.find("openblas") != std::string::npos;
    });
#endif
  }
};

}  // namespace

std::unique_ptr<backend::Backend> CreateCpuBackend() { return std::make_unique<CpuBackend>(); }

void SetOpenMpThreads(int threads) {
  // Looked up rather than linked: libgomp is loaded with oneDNN, and the layer need not link it.
  using SetFn = void (*)(int);
  static const SetFn set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set != nullptr) set(threads);
}

}  // namespace refit::cpu
