// MutableModel and the engine cache on the zoo, in one process: the first run of a model (a miss:
// build and store), the first run of another model object over the same cache directory (a hit:
// load the stripped entry and refit it with the model's weights), and a weight edit (a refit).
//
// usage: model_bench MODEL_DIR... [--markdown FILE]
// Each MODEL_DIR holds model.onnx and inputs.safetensors (tests/models/make_zoo.py). Times are
// RunInfo::prepare_seconds (the path's own cost, not the run). A fresh cache directory per model
// under $TMPDIR; each row's three measurements follow one another in this process, so one-time
// process costs (library start-up) are not in the hit.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "refit/mutable_model.h"
#include "refit/safetensors.h"

namespace {

template <typename T>
T Check(refit::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    std::fprintf(stderr, "model_bench: %s: %s\n", what.c_str(), v.status().message().c_str());
    std::exit(1);
  }
  return std::move(v).value();
}

struct Row {
  std::string model;
  double miss_s = 0, hit_s = 0, refit_s = 0;
  std::string miss_path, hit_path, refit_path;
};

Row BenchModel(const std::string& dir, int hit_repeats) {
  Row row;
  row.model = dir.substr(dir.find_last_of('/') + 1);
  const std::string cache =
      (std::filesystem::temp_directory_path() / ("refit_model_bench_" + row.model)).string();
  std::filesystem::remove_all(cache);
  auto file = Check(refit::SafetensorsFile::Open(dir + "/inputs.safetensors"), "inputs");
  std::map<std::string, refit::TensorView> inputs;
  for (const std::string& name : file->names()) inputs[name] = Check(file->Get(name), name);
  refit::MutableModelOptions options;
  options.cache_dir = cache;
  refit::RunInfo info;
  {
    auto first = Check(refit::MutableModel::Open(dir + "/model.onnx", options), "open");
    Check(first->Run(inputs, &info), "miss run");
    row.miss_s = info.prepare_seconds;
    row.miss_path = refit::RunPathName(info.path);
  }
  // The hit: a fresh model object over the same directory, median of several.
  std::vector<double> hits;
  std::unique_ptr<refit::MutableModel> second;
  for (int i = 0; i < hit_repeats; ++i) {
    second = Check(refit::MutableModel::Open(dir + "/model.onnx", options), "open");
    Check(second->Run(inputs, &info), "hit run");
    hits.push_back(info.prepare_seconds);
    row.hit_path = refit::RunPathName(info.path);
    if (row.hit_path != "cache hit") break;
  }
  std::sort(hits.begin(), hits.end());
  row.hit_s = hits[hits.size() / 2];
  // One weight edited: the largest, scaled.
  refit::WeightPrototype largest;
  uint64_t largest_n = 0;
  for (const refit::WeightPrototype& w : second->weights()) {
    if (uint64_t(w.shape.NumElements()) > largest_n && w.dtype == refit::DataType::kF32) {
      largest_n = uint64_t(w.shape.NumElements());
      largest = w;
    }
  }
  refit::Tensor t = Check(refit::Tensor::Create(largest.dtype, largest.shape), "tensor");
  for (uint64_t i = 0; i < largest_n; ++i) t.mutable_data_as<float>()[i] = 0.001f * float(i % 97);
  if (!second->SetWeight(largest.name, t.view()).ok()) std::exit(1);
  Check(second->Run(inputs, &info), "refit run");
  row.refit_s = info.prepare_seconds;
  row.refit_path = refit::RunPathName(info.path);
  std::filesystem::remove_all(cache);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  std::string markdown;
  int hit_repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--markdown" && i + 1 < argc) {
      markdown = argv[++i];
    } else if (a == "--hit-repeats" && i + 1 < argc) {
      hit_repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: model_bench MODEL_DIR... [--hit-repeats N] [--markdown F]\n");
      return 0;
    } else {
      dirs.push_back(a);
    }
  }
  std::string table =
      "| model | miss: build (s) | hit: load + refit (ms) | miss / hit | one weight edited: refit "
      "(ms) |\n|---|---:|---:|---:|---:|\n";
  for (const std::string& dir : dirs) {
    const Row r = BenchModel(dir, hit_repeats);
    if (r.miss_path != "rebuild" || r.hit_path != "cache hit" || r.refit_path != "refit") {
      std::fprintf(stderr,
                   "model_bench: %s: paths %s, %s, %s (expected rebuild, cache hit, refit)\n",
                   r.model.c_str(), r.miss_path.c_str(), r.hit_path.c_str(), r.refit_path.c_str());
      return 1;
    }
    char line[256];
    std::snprintf(line, sizeof line, "| %s | %.3f | %.2f | %.0fx | %.3f |\n", r.model.c_str(),
                  r.miss_s, r.hit_s * 1e3, r.miss_s / r.hit_s, r.refit_s * 1e3);
    std::fputs(line, stdout);
    std::fflush(stdout);
    table += line;
  }
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return 0;
}
