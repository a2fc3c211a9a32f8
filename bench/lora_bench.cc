// LoRA adapter switching on the zoo, against a full refit and against the build, in one run.
//
// usage: lora_bench MODEL_DIR... [--iterations N] [--threads N] [--markdown FILE]
// Each MODEL_DIR holds model.onnx, weights2.safetensors, lora_peft/ and lora_kohya.safetensors
// (tests/models/make_zoo.py, make_adapters.py). Per model:
//   build    `BuildEngine` with kept sources and a fresh timing cache (every tactic timed);
//   switch   a loaded engine switched from adapter A (PEFT) to B (kohya) and back: Unload one,
//            Load the other, Apply (adapters already parsed, as a server holding both would),
//            median of N switches;
//   scale    changing A's scale (Apply recomputes A's slots only), median of N;
//   refit    a full in-process refit to weights2, median of N;
//   variant  bytes a variant holding the base plus A owns beside the base (untouched slots are
//            shared).
// The "touched" column is the share of the engine's packed weight bytes a switch rewrites: a
// switch should cost about that share of a full refit.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/builder.h"
#include "engine/engine.h"
#include "frontend/onnx/importer.h"
#include "refit/lora.h"
#include "refit/refitter.h"
#include "refit/safetensors.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename T>
T Check(refit::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    std::fprintf(stderr, "lora_bench: %s: %s\n", what.c_str(), v.status().message().c_str());
    std::exit(1);
  }
  return std::move(v).value();
}

void Check(const refit::Status& s, const std::string& what) {
  if (!s.ok()) Check(refit::StatusOr<int>(s), what);
}

struct Row {
  std::string model;
  double build_s = 0, switch_ms = 0, scale_ms = 0, refit_ms = 0;
  uint64_t total_bytes = 0, switch_bytes = 0, variant_bytes = 0;
  int switch_slots = 0, slots = 0, targets_a = 0, targets_b = 0;
};

Row BenchModel(const std::string& dir, int iterations, int threads) {
  Row row;
  row.model = dir.substr(dir.find_last_of('/') + 1);
  refit::ir::Graph graph =
      Check(refit::onnx_frontend::ImportOnnxFile(dir + "/model.onnx"), dir + "/model.onnx");
  refit::engine::BuildOptions options;
  options.keep_sources = true;
  const auto start = Clock::now();
  auto built = Check(refit::engine::BuildEngine(std::move(graph), options), "build " + dir);
  row.build_s = std::chrono::duration<double>(Clock::now() - start).count();
  auto engine = Check(refit::engine::Engine::FromBuild(std::move(built)), "load " + dir);
  row.total_bytes = engine->weights()->bytes();

  refit::LoraRefitterOptions lo;
  lo.threads = threads;
  refit::LoraRefitter lora(engine.get(), refit::KeptBaseWeights(*engine), lo);
  const auto a = std::make_shared<refit::LoraAdapter>(
      Check(refit::LoadLoraAdapter(dir + "/lora_peft", lora.weights()), dir + "/lora_peft"));
  const auto b = std::make_shared<refit::LoraAdapter>(Check(
      refit::LoadLoraAdapter(dir + "/lora_kohya.safetensors", lora.weights()), "kohya " + dir));
  row.targets_a = int(a->targets.size());
  row.targets_b = int(b->targets.size());
  Check(lora.Load("a", *a), "load a");
  Check(lora.Apply().status(), "apply a");
  std::vector<double> switches, scales, refits;
  for (int i = 0; i < 2 * iterations + 2; ++i) {  // A -> B, B -> A, ...; the first pair warms up
    const bool to_b = i % 2 == 0;
    Check(lora.Unload(to_b ? "a" : "b"), "unload");
    Check(lora.Load(to_b ? "b" : "a", to_b ? *b : *a), "load");
    const refit::RefitReport r = Check(lora.Apply(), "switch " + dir);
    if (i > 1) switches.push_back(r.seconds * 1e3);
    if (!to_b) {
      row.switch_slots = r.slots;
      row.switch_bytes = r.bytes;
    }
  }
  for (int i = 0; i < iterations + 1; ++i) {
    Check(lora.SetScale("a", i % 2 == 0 ? 0.5f : 1.0f), "scale");
    const refit::RefitReport r = Check(lora.Apply(), "scale " + dir);
    if (i > 0) scales.push_back(r.seconds * 1e3);
  }
  // Variant memory: base plus A beside the default set.
  refit::LoraRefitterOptions vo = lo;
  vo.variant = "a";
  refit::LoraRefitter variant(engine.get(), refit::KeptBaseWeights(*engine), vo);
  Check(lora.Unload("a"), "unload a");
  Check(lora.Apply().status(), "base");
  Check(variant.Load("a", *a), "variant");
  Check(variant.Apply().status(), "variant");
  row.variant_bytes = engine->weights("a")->BytesNotIn(*engine->weights());

  std::ifstream in(dir + "/weights2.safetensors", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto file = Check(refit::SafetensorsFile::FromBytes(ss.str(), "weights2"), dir);
  refit::RefitterOptions ro;
  ro.threads = threads;
  refit::Refitter refitter(engine.get(), ro);
  std::map<std::string, std::shared_ptr<const refit::Tensor>> sources;
  for (const auto& s : engine->plan().sources) {
    sources[s.name] = std::make_shared<const refit::Tensor>(Check(file->GetTensor(s.name), s.name));
  }
  for (int i = 0; i < iterations + 1; ++i) {
    for (const auto& [name, t] : sources) Check(refitter.SetWeight(name, t), name);
    const refit::RefitReport r = Check(refitter.Apply(), "refit " + dir);
    row.slots = r.slots;
    if (i > 0) refits.push_back(r.seconds * 1e3);
  }
  row.switch_ms = Median(switches);
  row.scale_ms = Median(scales);
  row.refit_ms = Median(refits);
  return row;
}

std::string Bytes(uint64_t b) {
  char buf[32];
  if (b >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  int iterations = 9, threads = 0;
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
      std::printf("usage: lora_bench MODEL_DIR... [--iterations N] [--threads N] [--markdown F]\n");
      return 0;
    } else {
      dirs.push_back(a);
    }
  }
  std::string table =
      "| model | packed weights | targets A / B | switch A<->B (ms) | slots, bytes switched | "
      "touched | scale change (ms) | full refit (ms) | switch / refit | build (s) | "
      "build / switch | variant A beside base |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const std::string& dir : dirs) {
    const Row r = BenchModel(dir, iterations, threads);
    char line[640];
    std::snprintf(line, sizeof line,
                  "| %s | %s | %d / %d | %.3f | %d, %s | %.1f%% | %.3f | %.2f | %.2f | %.2f | "
                  "%.0fx | %s |\n",
                  r.model.c_str(), Bytes(r.total_bytes).c_str(), r.targets_a, r.targets_b,
                  r.switch_ms, r.switch_slots, Bytes(r.switch_bytes).c_str(),
                  100.0 * double(r.switch_bytes) / double(r.total_bytes), r.scale_ms, r.refit_ms,
                  r.switch_ms / r.refit_ms, r.build_s, r.build_s * 1e3 / r.switch_ms,
                  Bytes(r.variant_bytes).c_str());
    std::fputs(line, stdout);
    std::fflush(stdout);
    table += line;
  }
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return 0;
}
