// The LoRA hot-swap scenario end to end on the bundled tiny_cnn model, through MutableModel:
// build once, run, load adapter A, run, switch to B, run, back to A, change the input shape, run.
// Each step prints the path the run took (none, refit, cache hit, rebuild) and its time.
//
// usage: lora_hotswap [MODEL_DIR] [--cache DIR]
// MODEL_DIR (default examples/models/tiny_cnn) holds model_dynamic_batch.onnx (the model with a
// symbolic batch dimension), inputs.safetensors, lora_a/ (a PEFT adapter on conv2 and fc) and
// lora_b.safetensors (a kohya adapter on conv1, whose BatchNorm the engine folds, and fc).
// With --cache DIR, engines are kept in DIR: a second run of the program hits the cache.
// Exits 1 if a step fails or if returning to A does not give A's outputs bit for bit.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "refit/mutable_model.h"
#include "refit/safetensors.h"

namespace {

using Outputs = std::map<std::string, refit::Tensor>;

bool Same(const Outputs& a, const Outputs& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.nbytes() != t.nbytes() ||
        std::memcmp(it->second.data(), t.data(), t.nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

float First(const Outputs& o) { return o.begin()->second.data_as<float>()[0]; }

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "examples/models/tiny_cnn";
  refit::MutableModelOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cache" && i + 1 < argc) {
      options.cache_dir = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: lora_hotswap [MODEL_DIR] [--cache DIR]\n");
      return 0;
    } else {
      dir = a;
    }
  }
  auto fail = [](const std::string& what, const refit::Status& s) {
    std::fprintf(stderr, "lora_hotswap: %s: %s\n", what.c_str(), s.ToString().c_str());
    return 1;
  };
  auto model = refit::MutableModel::Open(dir + "/model_dynamic_batch.onnx", options);
  if (!model.ok()) return fail("open", model.status());
  auto file = refit::SafetensorsFile::Open(dir + "/inputs.safetensors");
  if (!file.ok()) return fail("inputs", file.status());
  std::map<std::string, refit::TensorView> inputs;
  for (const std::string& name : (*file)->names()) inputs[name] = (*file)->Get(name).value();

  auto step = [&](const char* what, const std::map<std::string, refit::TensorView>& in,
                  Outputs* out) -> bool {
    refit::RunInfo info;
    auto result = (*model)->Run(in, &info);
    if (!result.ok()) {
      fail(what, result.status());
      return false;
    }
    std::printf(
        "%-34s path %-9s %9.2f ms (+ run %.2f ms, %d weights / %d slots refitted)  "
        "out[0] = %+.5f\n",
        what, refit::RunPathName(info.path), info.prepare_seconds * 1e3, info.run_seconds * 1e3,
        info.weights_refitted, info.slots_refitted, First(*result));
    *out = std::move(result).value();
    return true;
  };
  Outputs base, base_again, a, b, a_again, batch;
  if (!step("1. first run (builds the engine)", inputs, &base)) return 1;
  if (!step("2. same weights again", inputs, &base_again)) return 1;
  refit::Status s = (*model)->LoadLora(dir + "/lora_a", 1.0f, "A");
  if (!s.ok()) return fail("load A", s);
  if (!step("3. adapter A loaded", inputs, &a)) return 1;
  if (!(s = (*model)->UnloadLora("A")).ok()) return fail("unload A", s);
  if (!(s = (*model)->LoadLora(dir + "/lora_b.safetensors", 0.8f, "B")).ok()) {
    return fail("load B", s);
  }
  if (!step("4. switched to B (scale 0.8)", inputs, &b)) return 1;
  if (!(s = (*model)->UnloadLora("B")).ok()) return fail("unload B", s);
  if (!(s = (*model)->LoadLora(dir + "/lora_a", 1.0f, "A")).ok()) return fail("load A", s);
  if (!step("5. back to A", inputs, &a_again)) return 1;

  // Batch 4: the same image four times; a new engine for the new shape, with A's weights.
  const refit::TensorView& one = inputs.begin()->second;
  std::vector<int64_t> dims = one.shape().dims();
  dims[0] = 4;
  refit::Tensor four = refit::Tensor::Create(one.dtype(), refit::Shape(dims)).value();
  for (int k = 0; k < 4; ++k) {
    std::memcpy(static_cast<char*>(four.mutable_data()) + k * one.nbytes(), one.data(),
                one.nbytes());
  }
  if (!step("6. input batch 1 -> 4", {{inputs.begin()->first, four.view()}}, &batch)) return 1;

  const bool exact = Same(a, a_again);
  const bool changed = !Same(base, a) && !Same(a, b);
  const bool batch_ok = std::memcmp(batch.begin()->second.data(), a.begin()->second.data(),
                                    a.begin()->second.nbytes()) == 0 ||
                        std::fabs(First(batch) - First(a)) <= 1e-5f * std::fabs(First(a)) + 1e-6f;
  std::printf(
      "A -> B -> A gives A's outputs bit for bit: %s; adapters change the outputs: %s; "
      "batch 4 row 0 equals batch 1 with A: %s\n",
      exact ? "yes" : "NO", changed ? "yes" : "NO", batch_ok ? "yes" : "NO");
  return exact && changed && batch_ok ? 0 : 1;
}
