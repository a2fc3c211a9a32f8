// Options shared by the commands that load an engine.
#include "cli/commands.h"
#include "cli/engine_loader.h"

namespace refit::cli {

void AddWeightOptions(CLI::App* cmd, WeightArgs* args, bool stripped_note) {
  cmd->add_option("--weights", args->weights,
                  std::string("engines only: source weights (a safetensors state dict, or an ONNX "
                              "export of the same model, matched by initializer name or else by "
                              "graph position) to refit with first; weights not given keep their "
                              "values") +
                      (stripped_note ? "; required for stripped engines" : ""));
  cmd->add_option("--lora", args->loras,
                  "engines only, repeatable: a LoRA adapter (a PEFT directory or "
                  "adapter_model.safetensors with adapter_config.json beside it, or a kohya "
                  ".safetensors file), optionally with a scale (ADAPTER:0.5; default 1), merged "
                  "into the base weights: the engine's kept sources (refit build "
                  "--keep-sources) with --weights over them");
}

}  // namespace refit::cli
