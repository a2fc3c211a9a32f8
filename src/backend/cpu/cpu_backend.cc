#include "backend/cpu/cpu_backend.h"

#include <dlfcn.h>

#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {
namespace {

class CpuBackend : public backend::Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::vector<std::unique_ptr<backend::Tactic>> Tactics(
      const backend::LayerDesc& layer) const override {
    TacticList out;
    if (!Static(layer)) return out;
    for (const Adder& add : kAdders) add(layer, &out, {});
    DropUnseenThreads(&out);
    return out;
  }

  // An engine load looks up one tactic per layer: the families are asked in turn (the
  // convolution and GEMM ones list only the named tactic's sub-family) until one has it.
  StatusOr<std::unique_ptr<backend::Tactic>> FindTactic(const backend::LayerDesc& layer,
                                                        const std::string& name) const override {
    const std::string_view family = std::string_view(name).substr(0, name.find('/'));
    if (Static(layer)) {
      TacticList out;
      for (const Adder& add : kAdders) {
        add(layer, &out, family);
        DropUnseenThreads(&out);
        for (std::unique_ptr<backend::Tactic>& t : out) {
          if (t->name() == name) return std::move(t);
        }
        out.clear();
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
  static constexpr Adder kAdders[] = {
      &AddConvTactics,
      &AddGemmTactics,
      &Plain<AddPoolTactics>,
      &Plain<AddElementwiseTactics>,
      &Plain<AddNormTactics>,
      &Plain<AddSoftmaxTactics>,
      &Plain<AddResizeTactics>,
      &Plain<AddPadTactics>,
      &Plain<AddConcatTactics>,
      &Plain<AddSliceTactics>,
      &Plain<AddTransposeTactics>,
      &Plain<AddReshapeTactics>,
      &Plain<AddSplitTactics>,
      &Plain<AddGatherTactics>,
      &Plain<AddReduceTactics>,
      &Plain<AddLogicTactics>,
      &Plain<AddExpandTactics>,
      &Plain<AddCastTactics>,
      &Plain<AddBatchNormTactics>,
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
