// Runs the ONNX backend node tests (package libonnx-testdata) through the reference executor.
//
// A test is in scope when every operator of its model is one refit claims (operators.txt). Each
// in-scope test must pass unless exclusions.txt lists it with a reason; listed tests that pass
// and listed names that do not exist are reported, so the file cannot go stale. Prints one line
// per failing test (every test with --verbose) and a pass count per operator; exits non-zero when
// an in-scope, non-excluded test fails.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backend/reference/executor.h"
#include "backend/reference/kernel_util.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "frontend/onnx/importer.h"

namespace fs = std::filesystem;
using namespace refit;

namespace {

struct Options {
  std::string data = "/usr/share/libonnx-testdata/data/node";
  std::string operators = std::string(REFIT_SOURCE_DIR) + "/tests/conformance/operators.txt";
  std::string exclusions = std::string(REFIT_SOURCE_DIR) + "/tests/conformance/exclusions.txt";
  std::string op;    // only tests using this operator
  std::string test;  // only this test
  bool verbose = false;
  std::optional<engine::EngineMode> engine_mode;  // run through built engines instead
};

std::set<std::string> ReadWords(const std::string& path) {
  std::set<std::string> words;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string w;
    while (ss >> w) words.insert(w);
  }
  return words;
}

std::map<std::string, std::string> ReadExclusions(const std::string& path) {
  std::map<std::string, std::string> ex;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string name, reason;
    ss >> name;
    std::getline(ss, reason);
    ex[name] = reason;
  }
  return ex;
}

// Compares as numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7) does for floats (NaN equal to
// NaN), exactly for integers and bool. Fills `why` on mismatch.
bool Compare(const Tensor& expected, const Tensor& actual, std::string* why) {
  if (expected.dtype() != actual.dtype()) {
    *why = "dtype " + std::string(DataTypeName(actual.dtype())) + ", expected " +
           std::string(DataTypeName(expected.dtype()));
    return false;
  }
  if (expected.shape() != actual.shape()) {
    *why = "shape " + actual.shape().ToString() + ", expected " + expected.shape().ToString();
    return false;
  }
  const int64_t n = expected.NumElements();
  double worst = 0;
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double e = reference::ReadScalarAsDouble(expected, i);
    const double a = reference::ReadScalarAsDouble(actual, i);
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) || std::isinf(a)) {
      if (e != a && bad < 0) bad = i;
      continue;
    }
    const double err = std::fabs(a - e);
    const bool ok = IsFloatingPoint(expected.dtype()) ? err <= 1e-7 + 1e-3 * std::fabs(e) : a == e;
    worst = std::max(worst, err);
    if (!ok && bad < 0) bad = i;
  }
  if (bad >= 0) {
    std::ostringstream ss;
    ss << "element " << bad << " is " << reference::ReadScalarAsDouble(actual, bad) << ", expected "
       << reference::ReadScalarAsDouble(expected, bad) << " (max abs error " << worst << ")";
    *why = ss.str();
    return false;
  }
  return true;
}

std::vector<fs::path> SortedPb(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

// Builds an engine for `graph` at the input shapes of one test set, round-trips it through the
// engine file format and runs it: the node test seen through `refit build` + `refit run`.
StatusOr<std::map<std::string, Tensor>> RunThroughEngine(
    const fs::path& model, const std::map<std::string, TensorView>& inputs,
    engine::EngineMode mode) {
  onnx_frontend::ImportOptions io;
  io.min_opset = 1;
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, onnx_frontend::ImportOnnxFile(model.string(), io));
  engine::BuildOptions options;
  options.mode = mode;
  options.min_timing_runs = 1;
  options.min_timing_ms = 0;
  options.plan_check_ms = 0;
  for (const auto& [name, view] : inputs) options.input_shapes[name] = view.shape().dims();
  options.sample_inputs = inputs;  // shape-deciding inputs (Reshape targets, Resize scales)
  std::map<std::string, Tensor> sources;
  if (mode == engine::EngineMode::kStripped) {
    for (const auto& [name, w] : graph.weights) sources.emplace(name, w.Clone());
  }
  REFIT_ASSIGN_OR_RETURN(engine::BuiltEngine built, engine::BuildEngine(std::move(graph), options));
  REFIT_ASSIGN_OR_RETURN(std::string bytes, engine::SerializeEngine(built));
  REFIT_ASSIGN_OR_RETURN(auto e, engine::Engine::FromBytes(std::move(bytes), model.string()));
  if (mode == engine::EngineMode::kStripped) {
    REFIT_ASSIGN_OR_RETURN(auto ws, e->CreateWeightSet([&](const std::string& n) -> const Tensor* {
      auto it = sources.find(n);
      return it == sources.end() ? nullptr : &it->second;
    }));
    REFIT_RETURN_IF_ERROR(e->SetWeights(std::move(ws)));
  }
  return e->Run(inputs);
}

// Runs one test directory; returns "" on success, else the reason.
std::string RunTest(const fs::path& dir, const std::optional<engine::EngineMode>& engine_mode) {
  onnx_frontend::ImportOptions io;
  io.min_opset = 1;  // run old-opset tests too; failures among them are listed as exclusions
  auto graph = onnx_frontend::ImportOnnxFile((dir / "model.onnx").string(), io);
  if (!graph.ok()) return graph.status().ToString();
  std::unique_ptr<reference::ReferenceExecutor> ex;
  if (!engine_mode) {
    auto created = reference::ReferenceExecutor::Create(*graph);
    if (!created.ok()) return created.status().ToString();
    ex = std::move(created).value();
  }
  for (const auto& set : fs::directory_iterator(dir)) {
    if (!set.is_directory()) continue;
    std::map<std::string, Tensor> owned;
    std::map<std::string, TensorView> inputs;
    const auto in_files = SortedPb(set.path(), "input");
    // Inputs are positional; the .pb names may be empty or differ, so map by graph position.
    size_t k = 0;
    for (const auto& f : in_files) {
      auto t = onnx_frontend::LoadTensorProtoFile(f.string());
      if (!t.ok()) return t.status().ToString();
      if (k >= graph->inputs.size()) return "more input files than graph inputs";
      const std::string& name = graph->inputs[k++].name;
      owned[name] = std::move(t->tensor);
      inputs[name] = owned[name].view();
    }
    auto out =
        engine_mode ? RunThroughEngine(dir / "model.onnx", inputs, *engine_mode) : ex->Run(inputs);
    if (!out.ok()) return out.status().ToString();
    const auto out_files = SortedPb(set.path(), "output");
    if (out_files.size() != graph->outputs.size()) return "output count mismatch";
    for (size_t i = 0; i < out_files.size(); ++i) {
      auto t = onnx_frontend::LoadTensorProtoFile(out_files[i].string());
      if (!t.ok()) return t.status().ToString();
      const std::string& name = graph->outputs[i].name;
      if (!out->count(name)) return "output '" + name + "' missing";
      std::string why;
      if (!Compare(t->tensor, out->at(name), &why)) return "output '" + name + "': " + why;
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data")
      opt.data = next();
    else if (a == "--operators")
      opt.operators = next();
    else if (a == "--exclusions")
      opt.exclusions = next();
    else if (a == "--op")
      opt.op = next();
    else if (a == "--test")
      opt.test = next();
    else if (a == "--engine") {
      auto mode = engine::ParseEngineMode(next());
      if (!mode.ok()) {
        std::fprintf(stderr, "error: %s\n", mode.status().message().c_str());
        return 2;
      }
      opt.engine_mode = *mode;
    } else if (a == "--verbose" || a == "-v")
      opt.verbose = true;
    else {
      std::fprintf(stderr,
                   "usage: refit_conformance [--data DIR] [--operators FILE] [--exclusions FILE]\n"
                   "                         [--op OP] [--test NAME] [--verbose]\n"
                   "                         [--engine refittable|stripped|static]\n"
                   "--engine: build each test model into an engine of that mode and run it\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!fs::is_directory(opt.data)) {
    std::fprintf(stderr, "error: node test directory '%s' not found (install libonnx-testdata)\n",
                 opt.data.c_str());
    return 2;
  }
  const std::set<std::string> claimed = ReadWords(opt.operators);
  const auto exclusions = ReadExclusions(opt.exclusions);
  if (claimed.empty()) {
    std::fprintf(stderr, "error: no operators in '%s'\n", opt.operators.c_str());
    return 2;
  }
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(opt.data)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());

  struct Count {
    int run = 0, pass = 0, excluded = 0, fail = 0;
  };
  std::map<std::string, Count> per_op;
  int failures = 0, passes = 0, excluded = 0, stale = 0, in_scope = 0;
  std::set<std::string> seen;
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    seen.insert(name);
    if (!opt.test.empty() && name != opt.test) continue;
    // Scope by the model's operators; a model that does not even import is judged by its name.
    onnx_frontend::ImportOptions io;
    io.min_opset = 1;
    io.check_model = false;
    io.infer_shapes = false;
    auto g = onnx_frontend::ImportOnnxFile((dir / "model.onnx").string(), io);
    std::set<std::string> ops;
    if (g.ok()) {
      for (const auto& n : g->nodes) ops.insert(n.op_type);
    } else {
      ops.insert("?");
    }
    const bool scoped = std::all_of(ops.begin(), ops.end(),
                                    [&](const std::string& o) { return claimed.count(o) > 0; });
    if (!scoped && !exclusions.count(name)) continue;
    if (!opt.op.empty() && !ops.count(opt.op)) continue;
    ++in_scope;
    const std::string why = RunTest(dir, opt.engine_mode);
    const bool is_excluded = exclusions.count(name) > 0;
    for (const auto& o : ops) {
      Count& c = per_op[o];
      ++c.run;
      if (why.empty())
        ++c.pass;
      else if (is_excluded)
        ++c.excluded;
      else
        ++c.fail;
    }
    if (why.empty()) {
      ++passes;
      if (is_excluded) {
        ++stale;
        std::printf("STALE  %s passes but is excluded (%s)\n", name.c_str(),
                    exclusions.at(name).c_str());
      } else if (opt.verbose) {
        std::printf("PASS   %s\n", name.c_str());
      }
    } else if (is_excluded) {
      ++excluded;
      if (opt.verbose) std::printf("EXCL   %s:%s\n", name.c_str(), exclusions.at(name).c_str());
    } else {
      ++failures;
      std::printf("FAIL   %s: %s\n", name.c_str(), why.c_str());
    }
  }
  for (const auto& [name, reason] : exclusions) {
    if (!seen.count(name)) {
      ++stale;
      std::printf("STALE  exclusion '%s' names no test\n", name.c_str());
    }
  }
  std::printf("\n%-28s %5s %5s %5s %5s\n", "operator", "tests", "pass", "excl", "fail");
  for (const auto& [op, c] : per_op) {
    std::printf("%-28s %5d %5d %5d %5d\n", op.c_str(), c.run, c.pass, c.excluded, c.fail);
  }
  std::printf("\n%d tests in scope: %d passed, %d excluded, %d failed, %d stale exclusions\n",
              in_scope, passes, excluded, failures, stale);
  const bool filtered = !opt.op.empty() || !opt.test.empty();
  return failures > 0 || (stale > 0 && !filtered) ? 1 : 0;
}
