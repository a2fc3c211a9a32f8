// MutableModel and the engine cache on the zoo, in one process: the first run of a model (a miss:
// build and store), the first run of another model object over the same cache directory (a hit:
// from disk, load the stripped entry and refit it with the model's weights; from the process's
// memory tier, an instance of the engine already loaded, refitted), and a weight edit (a refit).
//
// usage: model_bench MODEL_DIR... [--miss-repeats N] [--hit-repeats N] [--markdown FILE]
// Each MODEL_DIR holds model.onnx and inputs.safetensors (tests/models/make_zoo.py). Times are
// RunInfo::prepare_seconds (the path's own cost, not the run). A fresh cache directory per model
// under $TMPDIR. --miss-repeats rounds (5), each a miss into an emptied directory with the memory
// tier bypassed, then --hit-repeats disk hits (5) over what it stored; then --hit-repeats memory
// hits. Times are medians; miss / disk hit is the median over rounds of the round's miss over its
// median disk hit (paired, so the drifting load of a shared machine hits both alike). Not in those
// times: opening the model object (MutableModel::Open: the ONNX import and the graph's digest for
// its cache keys), reported beside them as the median open of the hits' model objects.
#include <algorithm>
#include <chrono>
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
  double miss_s = 0, disk_s = 0, memory_s = 0, refit_s = 0, open_s = 0;
  double disk_ratio = 0;  // the median over rounds of miss / that round's median disk hit
  std::string miss_path, disk_path, memory_path, refit_path;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Row BenchModel(const std::string& dir, int miss_repeats, int hit_repeats) {
  Row row;
  row.model = dir.substr(dir.find_last_of('/') + 1);
  const std::string cache =
      (std::filesystem::temp_directory_path() / ("refit_model_bench_" + row.model)).string();
  auto file = Check(refit::SafetensorsFile::Open(dir + "/inputs.safetensors"), "inputs");
  std::map<std::string, refit::TensorView> inputs;
  for (const std::string& name : file->names()) inputs[name] = Check(file->Get(name), name);
  refit::MutableModelOptions options;
  options.cache_dir = cache;
  refit::MutableModelOptions disk_only = options;
  disk_only.memory_tier = false;
  refit::RunInfo info;
  // Rounds of a miss (an empty directory, the memory tier bypassed) then disk hits over the
  // directory it filled (fresh model objects, each a cold start of its own): the load of this
  // shared machine drifts, and paired rounds see the same drift on both sides of the ratio.
  auto hits = [&](const refit::MutableModelOptions& o, int repeats, std::string* path,
                  std::vector<double>* seconds, std::vector<double>* opens) {
    for (int i = 0; i < repeats; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto model = Check(refit::MutableModel::Open(dir + "/model.onnx", o), "open");
      opens->push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      Check(model->Run(inputs, &info), "hit run");
      seconds->push_back(info.prepare_seconds);
      *path = refit::RunPathName(info.path) + std::string(" ") + info.cache_tier;
    }
  };
  std::vector<double> misses, disk, ratios, opens;
  for (int r = 0; r < miss_repeats; ++r) {
    std::filesystem::remove_all(cache);
    auto model = Check(refit::MutableModel::Open(dir + "/model.onnx", disk_only), "open");
    Check(model->Run(inputs, &info), "miss run");
    misses.push_back(info.prepare_seconds);
    row.miss_path = refit::RunPathName(info.path);
    std::vector<double> round;
    hits(disk_only, hit_repeats, &row.disk_path, &round, &opens);
    ratios.push_back(misses.back() / Median(round));
    disk.insert(disk.end(), round.begin(), round.end());
  }
  row.miss_s = Median(misses);
  row.disk_s = Median(disk);
  row.disk_ratio = Median(ratios);
  {
    // Puts the engine in the process's memory tier (a disk hit), as any model of the process would.
    auto model = Check(refit::MutableModel::Open(dir + "/model.onnx", options), "open");
    Check(model->Run(inputs, &info), "hit run");
  }
  std::vector<double> memory;
  hits(options, hit_repeats, &row.memory_path, &memory, &opens);
  row.memory_s = Median(memory);
  row.open_s = Median(opens);
  // One weight edited: the largest, scaled.
  auto second = Check(refit::MutableModel::Open(dir + "/model.onnx", options), "open");
  Check(second->Run(inputs, &info), "hit run");
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
  int hit_repeats = 5, miss_repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--markdown" && i + 1 < argc) {
      markdown = argv[++i];
    } else if (a == "--miss-repeats" && i + 1 < argc) {
      miss_repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--hit-repeats" && i + 1 < argc) {
      hit_repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: model_bench MODEL_DIR... [--miss-repeats N] [--hit-repeats N] [--markdown F]\n");
      return 0;
    } else {
      dirs.push_back(a);
    }
  }
  std::string table =
      "| model | miss: build (s) | hit, disk: load + refit (ms) | miss / disk hit | hit, memory: "
      "refit (ms) | miss / memory hit | one weight edited: refit (ms) | open (ms) |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const std::string& dir : dirs) {
    const Row r = BenchModel(dir, miss_repeats, hit_repeats);
    if (r.miss_path != "rebuild" || r.disk_path != "cache hit disk" ||
        r.memory_path != "cache hit memory" || r.refit_path != "refit") {
      std::fprintf(stderr,
                   "model_bench: %s: paths %s, %s, %s, %s (expected rebuild, cache hit disk, "
                   "cache hit memory, refit)\n",
                   r.model.c_str(), r.miss_path.c_str(), r.disk_path.c_str(), r.memory_path.c_str(),
                   r.refit_path.c_str());
      return 1;
    }
    char line[256];
    std::snprintf(line, sizeof line, "| %s | %.3f | %.2f | %.0fx | %.3f | %.0fx | %.3f | %.2f |\n",
                  r.model.c_str(), r.miss_s, r.disk_s * 1e3, r.disk_ratio, r.memory_s * 1e3,
                  r.miss_s / r.memory_s, r.refit_s * 1e3, r.open_s * 1e3);
    std::fputs(line, stdout);
    std::fflush(stdout);
    table += line;
  }
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return 0;
}
