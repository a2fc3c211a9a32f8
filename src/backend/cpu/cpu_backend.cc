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
    return List(layer, {});
  }

  // Only the named tactic's family is listed: an engine load looks up one tactic per layer.
  StatusOr<std::unique_ptr<backend::Tactic>> FindTactic(const backend::LayerDesc& layer,
                                                        const std::string& name) const override {
    const std::string_view family = std::string_view(name).substr(0, name.find('/'));
    for (std::unique_ptr<backend::Tactic>& t : List(layer, family)) {
      if (t->name() == name) return std::move(t);
    }
    return NotFound(layer.Label() + ": backend 'cpu' has no tactic '" + name +
                    "' for this layer on this machine");
  }

 private:
  static TacticList List(const backend::LayerDesc& layer, std::string_view family) {
    TacticList out;
    // Dynamic shapes are the reference backend's alone.
    for (const backend::TensorDesc& d : layer.inputs) {
      if (d.dynamic) return out;
    }
    for (const backend::TensorDesc& d : layer.outputs) {
      if (d.dynamic) return out;
    }
    AddConvTactics(layer, &out, family);
    AddGemmTactics(layer, &out, family);
    AddPoolTactics(layer, &out);
    AddElementwiseTactics(layer, &out);
    AddNormTactics(layer, &out);
    AddSoftmaxTactics(layer, &out);
    AddResizeTactics(layer, &out);
    AddPadTactics(layer, &out);
    AddConcatTactics(layer, &out);
    AddSliceTactics(layer, &out);
    AddTransposeTactics(layer, &out);
    AddReshapeTactics(layer, &out);
    AddSplitTactics(layer, &out);
    AddGatherTactics(layer, &out);
    AddReduceTactics(layer, &out);
#if defined(__SANITIZE_THREAD__)
    // oneDNN (OpenMP) and OpenBLAS run threads ThreadSanitizer cannot see into, so it reports
    // their scratch and output writes as races. TSan builds test our own kernels only.
    std::erase_if(out, [](const std::unique_ptr<backend::Tactic>& t) {
      const std::string name = t->name();
      return name.find("dnnl") != std::string::npos || name.find("openblas") != std::string::npos;
    });
#endif
    return out;
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
