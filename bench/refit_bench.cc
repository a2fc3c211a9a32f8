// Refit speed on the zoo, against the build and against memcpy, in one run.
//
// usage: refit_bench MODEL_DIR... [--iterations N] [--threads N] [--markdown FILE]
// Each MODEL_DIR holds model.onnx and weights2.safetensors (tests/models/make_zoo.py). Per model:
//   build    `BuildEngine` with a fresh timing cache (every tactic timed), as `refit build` does;
//   refit    a full in-process refit to weights2 (Refitter::Apply; the new weights are already
//            in memory, as in a fine-tuning loop), median of N;
//   partial  a refit of the single largest source weight, median of N;
//   memcpy   copying the same number of bytes as the full refit writes, median of N, from
//            buffers as large as the sources into one preallocated buffer (one thread).
// Prints a markdown table with the ratios build/refit and refit/memcpy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/builder.h"
#include "engine/engine.h"
#include "frontend/onnx/importer.h"
#include "refit/refitter.h"
#include "refit/safetensors.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string model;
  double weight_mib = 0;
  int sources = 0, slots = 0;
  double build_s = 0, refit_ms = 0, partial_ms = 0, memcpy_ms = 0;
  double refittable_mib = 0, stripped_kib = 0;
  std::string partial_name;
};

template <typename T>
T Check(refit::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    std::fprintf(stderr, "refit_bench: %s: %s\n", what.c_str(), v.status().message().c_str());
    std::exit(1);
  }
  return std::move(v).value();
}

Row BenchModel(const std::string& dir, int iterations, int threads) {
  Row row;
  row.model = dir.substr(dir.find_last_of('/') + 1);
  refit::ir::Graph graph =
      Check(refit::onnx_frontend::ImportOnnxFile(dir + "/model.onnx"), dir + "/model.onnx");
  refit::engine::BuildOptions options;
  options.threads = 1;
  auto start = Clock::now();
  refit::engine::BuiltEngine built =
      Check(refit::engine::BuildEngine(std::move(graph), options), "build " + dir);
  row.build_s = Seconds(start);
  auto engine = Check(refit::engine::Engine::FromBuild(std::move(built)), "load " + dir);
  row.refittable_mib =
      double(Check(engine->Serialize(refit::engine::EngineMode::kRefittable), "write").size()) /
      (1 << 20);
  row.stripped_kib =
      double(Check(engine->Serialize(refit::engine::EngineMode::kStripped), "write").size()) / 1024;

  std::ifstream in(dir + "/weights2.safetensors", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto file = Check(refit::SafetensorsFile::FromBytes(ss.str(), "weights2"), dir);
  std::map<std::string, std::shared_ptr<const refit::Tensor>> sources;
  size_t largest = 0;
  for (const auto& s : engine->plan().sources) {
    sources[s.name] = std::make_shared<const refit::Tensor>(Check(file->GetTensor(s.name), s.name));
    if (sources[s.name]->nbytes() > largest) {
      largest = sources[s.name]->nbytes();
      row.partial_name = s.name;
    }
  }
  row.sources = int(sources.size());

  refit::RefitterOptions ro;
  ro.threads = threads;
  refit::Refitter refitter(engine.get(), ro);
  std::vector<double> full, partial, copy;
  uint64_t bytes = 0;
  for (int i = 0; i < iterations + 1; ++i) {  // the first is a warm-up
    for (const auto& [name, t] : sources) {
      const refit::Status st = refitter.SetWeight(name, t);
      if (!st.ok()) Check(refit::StatusOr<int>(st), name);
    }
    const refit::RefitReport r = Check(refitter.Apply(), "refit " + dir);
    bytes = r.bytes;
    row.slots = r.slots;
    if (i > 0) full.push_back(r.seconds * 1e3);
  }
  // The partial refit also needs every source the touched slots read (a BatchNorm's tensors).
  for (int i = 0; i < iterations + 1; ++i) {
    (void)refitter.SetWeight(row.partial_name, sources[row.partial_name]);
    for (const std::string& m : refitter.Missing()) (void)refitter.SetWeight(m, sources[m]);
    const refit::RefitReport r = Check(refitter.Apply(), "partial refit " + dir);
    if (i > 0) partial.push_back(r.seconds * 1e3);
  }
  std::vector<char> dst(bytes + 64);
  for (int i = 0; i < iterations + 1; ++i) {
    start = Clock::now();
    size_t off = 0;
    for (const auto& [name, t] : sources) {
      const size_t n = std::min<size_t>(t->nbytes(), bytes - off);
      std::memcpy(dst.data() + off, t->data(), n);
      off += n;
    }
    if (off < bytes) std::memset(dst.data() + off, 0, bytes - off);  // packing pads: count it
    if (i > 0) copy.push_back(Seconds(start) * 1e3);
  }
  row.weight_mib = double(bytes) / (1 << 20);
  row.refit_ms = Median(full);
  row.partial_ms = Median(partial);
  row.memcpy_ms = Median(copy);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  int iterations = 5, threads = 0;
  std::string markdown;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--markdown" && i + 1 < argc) {
      markdown = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: refit_bench MODEL_DIR... [--iterations N] [--threads N] [--markdown F]\n");
      return 0;
    } else {
      dirs.push_back(a);
    }
  }
  std::string table =
      "| model | packed weights | sources | slots | build (s) | refit (ms) | memcpy (ms) | "
      "build / refit | refit / memcpy | partial refit (ms): largest weight | refittable file | "
      "stripped file |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n";
  for (const std::string& dir : dirs) {
    const Row r = BenchModel(dir, iterations, threads);
    char line[512];
    std::snprintf(line, sizeof line,
                  "| %s | %.2f MiB | %d | %d | %.2f | %.2f | %.2f | %.0fx | %.2f | %.3f: %s | "
                  "%.2f MiB | %.1f KiB (%.2f%%) |\n",
                  r.model.c_str(), r.weight_mib, r.sources, r.slots, r.build_s, r.refit_ms,
                  r.memcpy_ms, r.build_s * 1e3 / r.refit_ms, r.refit_ms / r.memcpy_ms, r.partial_ms,
                  r.partial_name.c_str(), r.refittable_mib, r.stripped_kib,
                  100.0 * r.stripped_kib / 1024 / r.refittable_mib);
    std::fputs(line, stdout);
    std::fflush(stdout);
    table += line;
  }
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return 0;
}
