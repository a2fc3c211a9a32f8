// Loading LoRA adapters: PEFT directories and kohya files, matched against an engine's source
// weights.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "refit/lora.h"
#include "refit/lora_match.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;
constexpr int kMaxProblems = 20;

// Collects problems so one error lists the first ones at once.
class Problems {
 public:
  void Add(std::string p) {
    if (++count_ <= kMaxProblems) text_ += "\n  " + std::move(p);
  }
  bool empty() const { return count_ == 0; }
  Status ToStatus(const std::string& what) const {
    return InvalidArgument(what + ": " + std::to_string(count_) + " problem(s):" + text_ +
                           (count_ > kMaxProblems ? "\n  ..." : ""));
  }

 private:
  int count_ = 0;
  std::string text_;
};

StatusOr<std::shared_ptr<const Tensor>> ToF32(const SafetensorsFile& file, const std::string& key) {
  REFIT_ASSIGN_OR_RETURN(TensorView view, file.Get(key));
  if (view.dtype() != DataType::kF32 && view.dtype() != DataType::kF16 &&
      view.dtype() != DataType::kBF16) {
    return InvalidArgument("adapter '" + file.path() + "': tensor '" + key + "' is " +
                           std::string(DataTypeName(view.dtype())) +
                           "; LoRA tensors must be f32, f16 or bf16");
  }
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(DataType::kF32, view.shape()));
  float* dst = out.mutable_data_as<float>();
  const int64_t n = view.shape().NumElements();
  for (int64_t i = 0; i < n; ++i) {
    float v = 0;
    if (view.dtype() == DataType::kF32) v = view.data_as<float>()[i];
    if (view.dtype() == DataType::kF16) v = float(view.data_as<Half>()[i]);
    if (view.dtype() == DataType::kBF16) v = float(view.data_as<BFloat16>()[i]);
    if (!std::isfinite(v)) {
      return InvalidArgument("adapter '" + file.path() + "': tensor '" + key + "' element " +
                             std::to_string(i) + " is not finite");
    }
    dst[i] = v;
  }
  return std::shared_ptr<const Tensor>(std::make_shared<Tensor>(std::move(out)));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// PEFT's pattern keys name a module or a dotted suffix of its path.
const Json* FindPattern(const Json& patterns, const std::string& module) {
  if (!patterns.is_object()) return nullptr;
  for (auto it = patterns.begin(); it != patterns.end(); ++it) {
    if (module == it.key() || EndsWith(module, "." + it.key())) return &it.value();
  }
  return nullptr;
}

StatusOr<Json> ReadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return NotFound("PEFT adapter config '" + path +
                    "' is missing (a PEFT adapter needs adapter_config.json beside "
                    "adapter_model.safetensors)");
  }
  std::stringstream text;
  text << in.rdbuf();
  Json config = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return InvalidArgument("PEFT adapter config '" + path + "' is not a JSON object");
  }
  for (const char* key : {"r", "lora_alpha"}) {
    if (!config.contains(key) || !config[key].is_number() || config[key].get<double>() <= 0) {
      return InvalidArgument("PEFT adapter config '" + path + "': '" + key +
                             "' must be a positive number");
    }
  }
  return config;
}

// Pairs of (module key, down key, up key, alpha key or "") found in the file.
struct ModuleKeys {
  std::string down, up, alpha;
};

StatusOr<LoraAdapter> LoadPeft(const SafetensorsFile& file, const std::string& config_path,
                               const WeightMatcher& matcher) {
  REFIT_ASSIGN_OR_RETURN(Json config, ReadConfig(config_path));
  const bool rslora = config.value("use_rslora", false);
  const Json empty = Json::object();
  const Json& rank_pattern = config.contains("rank_pattern") ? config["rank_pattern"] : empty;
  const Json& alpha_pattern = config.contains("alpha_pattern") ? config["alpha_pattern"] : empty;
  const std::string prefix = "base_model.model.";
  std::map<std::string, ModuleKeys> modules;
  Problems problems;
  for (const std::string& key : file.names()) {
    std::string module = key.rfind(prefix, 0) == 0 ? key.substr(prefix.size()) : key;
    if (EndsWith(module, ".lora_A.weight")) {
      modules[module.substr(0, module.size() - 14)].down = key;
    } else if (EndsWith(module, ".lora_B.weight")) {
      modules[module.substr(0, module.size() - 14)].up = key;
    } else {
      problems.Add("key '" + key +
                   "' is not a LoRA lora_A/lora_B weight (only plain LoRA is "
                   "supported: no embeddings, DoRA magnitudes or biases)");
    }
  }
  LoraAdapter adapter;
  adapter.format = "peft";
  for (const auto& [module, keys] : modules) {
    if (keys.down.empty() || keys.up.empty()) {
      problems.Add("module '" + module + "' has " + (keys.down.empty() ? "lora_B" : "lora_A") +
                   " but no " + (keys.down.empty() ? "lora_A" : "lora_B"));
      continue;
    }
    LoraTarget t;
    t.key = module;
    auto weight = matcher.Match(module, /*underscored=*/false);
    if (!weight.ok()) {
      problems.Add(weight.status().message());
      continue;
    }
    t.weight = *weight;
    const Json* r = FindPattern(rank_pattern, module);
    const Json* a = FindPattern(alpha_pattern, module);
    const double rank =
        (r != nullptr && r->is_number()) ? r->get<double>() : config["r"].get<double>();
    const double alpha =
        (a != nullptr && a->is_number()) ? a->get<double>() : config["lora_alpha"].get<double>();
    auto down = ToF32(file, keys.down);
    auto up = ToF32(file, keys.up);
    if (!down.ok() || !up.ok()) {
      problems.Add((!down.ok() ? down.status() : up.status()).message());
      continue;
    }
    t.down = *down;
    t.up = *up;
    t.rank = int64_t(rank);
    t.alpha_scale = float(rslora ? alpha / std::sqrt(rank) : alpha / rank);
    Status s = CheckTarget(t, matcher);
    if (!s.ok()) {
      problems.Add(s.message());
      continue;
    }
    adapter.targets.push_back(std::move(t));
  }
  if (!problems.empty()) return problems.ToStatus("PEFT adapter '" + file.path() + "'");
  return adapter;
}

StatusOr<LoraAdapter> LoadKohya(const SafetensorsFile& file, const WeightMatcher& matcher) {
  std::map<std::string, ModuleKeys> modules;
  Problems problems;
  for (const std::string& key : file.names()) {
    const size_t dot = key.find('.');
    const std::string module = key.substr(0, dot);
    const std::string rest = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (rest == "lora_down.weight") {
      modules[module].down = key;
    } else if (rest == "lora_up.weight") {
      modules[module].up = key;
    } else if (rest == "alpha") {
      modules[module].alpha = key;
    } else {
      problems.Add("key '" + key + "' is not a kohya LoRA lora_down/lora_up/alpha tensor");
    }
  }
  LoraAdapter adapter;
  adapter.format = "kohya";
  for (const auto& [module, keys] : modules) {
    if (keys.down.empty() || keys.up.empty()) {
      problems.Add("module '" + module + "' lacks " +
                   (keys.down.empty() ? "lora_down.weight" : "lora_up.weight"));
      continue;
    }
    if (keys.alpha.empty()) {
      problems.Add("module '" + module + "' has no alpha (" + module + ".alpha)");
      continue;
    }
    LoraTarget t;
    t.key = module;
    auto weight = matcher.Match(StripKohyaPrefix(module), /*underscored=*/true);
    if (!weight.ok()) {
      problems.Add(weight.status().message());
      continue;
    }
    t.weight = *weight;
    auto down = ToF32(file, keys.down);
    auto up = ToF32(file, keys.up);
    auto alpha = ToF32(file, keys.alpha);
    if (!down.ok() || !up.ok() || !alpha.ok()) {
      problems.Add((!down.ok() ? down.status()
                    : !up.ok() ? up.status()
                               : alpha.status())
                       .message());
      continue;
    }
    if ((*alpha)->shape().NumElements() != 1) {
      problems.Add("module '" + module + "': alpha has shape " + (*alpha)->shape().ToString() +
                   ", expected a scalar");
      continue;
    }
    t.down = *down;
    t.up = *up;
    t.rank = t.down->shape().rank() > 0 ? t.down->shape()[0] : 0;
    t.alpha_scale = t.rank > 0 ? (*alpha)->data_as<float>()[0] / float(t.rank) : 0.0f;
    Status s = CheckTarget(t, matcher);
    if (!s.ok()) {
      problems.Add(s.message());
      continue;
    }
    adapter.targets.push_back(std::move(t));
  }
  if (!problems.empty()) return problems.ToStatus("kohya adapter '" + file.path() + "'");
  return adapter;
}

}  // namespace

StatusOr<LoraAdapter> LoadLoraAdapter(const std::string& path,
                                      const std::vector<WeightPrototype>& weights) {
  std::error_code ec;
  std::string tensors_path = path;
  std::string config_path;
  if (fs::is_directory(path, ec)) {
    tensors_path = (fs::path(path) / "adapter_model.safetensors").string();
    config_path = (fs::path(path) / "adapter_config.json").string();
    if (!fs::exists(tensors_path, ec)) {
      const bool bin = fs::exists(fs::path(path) / "adapter_model.bin", ec);
      return NotFound("adapter directory '" + path + "' has no adapter_model.safetensors" +
                      (bin ? " (adapter_model.bin is a pickle: convert it to safetensors)" : ""));
    }
  } else if (!fs::exists(path, ec)) {
    return NotFound("adapter '" + path + "' does not exist");
  }
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                         SafetensorsFile::Open(tensors_path));
  if (file->names().empty()) return InvalidArgument("adapter '" + tensors_path + "' is empty");
  const WeightMatcher matcher(weights);
  bool peft = false;
  for (const std::string& key : file->names()) {
    peft = peft || EndsWith(key, ".lora_A.weight") || EndsWith(key, ".lora_B.weight");
  }
  StatusOr<LoraAdapter> adapter = Internal("unreachable");
  if (peft) {
    if (config_path.empty()) {
      config_path = (fs::path(tensors_path).parent_path() / "adapter_config.json").string();
    }
    adapter = LoadPeft(*file, config_path, matcher);
  } else {
    adapter = LoadKohya(*file, matcher);
  }
  if (!adapter.ok()) return adapter.status();
  if (adapter->targets.empty()) {
    return InvalidArgument("adapter '" + tensors_path + "' updates no weight");
  }
  adapter->path = path;
  return adapter;
}

}  // namespace refit
