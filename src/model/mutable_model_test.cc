#include "refit/mutable_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "base/test_temp_dir.h"
#include "cache/memory_tier.h"
#include "engine/engine_test_util.h"
#include "frontend/onnx/importer.h"
#include "refit/lora.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

using engine::testing::ExpectBitEqual;
using engine::testing::ExpectClose;
using engine::testing::Reference;
using engine::testing::TensorMap;
using engine::testing::Views;

const std::string kDir = std::string(REFIT_SOURCE_DIR) + "/examples/models/tiny_cnn";
const std::string kModel = kDir + "/model_dynamic_batch.onnx";

TensorMap Inputs(int64_t batch = 1) {
  auto f = SafetensorsFile::Open(kDir + "/inputs.safetensors").value();
  TensorMap m;
  const TensorView one = f->Get(f->names()[0]).value();
  std::vector<int64_t> dims = one.shape().dims();
  dims[0] = batch;
  Tensor t = Tensor::Create(one.dtype(), Shape(dims)).value();
  for (int64_t k = 0; k < batch; ++k) {
    std::memcpy(static_cast<char*>(t.mutable_data()) + k * one.nbytes(), one.data(), one.nbytes());
  }
  m.emplace(f->names()[0], std::move(t));
  return m;
}

MutableModelOptions Fast(const std::string& cache = "") {
  MutableModelOptions o;
  o.min_timing_runs = 1;
  o.min_timing_ms = 0;
  o.plan_check_ms = 0;
  o.cache_dir = cache;
  return o;
}

// The cache directory only: the process's memory tier bypassed, as a new process would be.
MutableModelOptions DiskOnly(const std::string& cache) {
  MutableModelOptions o = Fast(cache);
  o.memory_tier = false;
  return o;
}

// The oracle: the reference executor on the ONNX graph with `edit` applied to its weights.
template <typename F>
TensorMap Oracle(const TensorMap& inputs, F edit) {
  ir::Graph g = onnx_frontend::ImportOnnxFile(kModel).value();
  edit(g);
  for (ir::ValueInfo& v : g.inputs) v.dims = inputs.at(v.name).shape().dims();
  return Reference(g, inputs);
}

TensorMap RunOk(MutableModel& m, const TensorMap& inputs, RunPath expected,
                RunInfo* info_out = nullptr) {
  RunInfo info;
  auto out = m.Run(Views(inputs), &info);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(RunPathName(info.path), std::string(RunPathName(expected)));
  if (info_out != nullptr) *info_out = info;
  return out.ok() ? std::move(out).value() : TensorMap{};
}

TEST(MutableModelTest, BuildsOnceThenRefitsOnlyWhatEditsTouch) {
  auto m = MutableModel::Open(kModel, Fast()).value();
  const TensorMap in = Inputs();
  RunInfo info;
  const TensorMap base = RunOk(*m, in, RunPath::kRebuild, &info);
  EXPECT_GT(info.prepare_seconds, 0);
  ExpectClose(Oracle(in, [](ir::Graph&) {}), base);
  RunOk(*m, in, RunPath::kNone, &info);
  EXPECT_EQ(info.prepare_seconds, 0);
  // One weight: a refit of its slot only.
  Tensor fc = Tensor::Create(DataType::kF32, Shape{10}).value();
  for (int i = 0; i < 10; ++i) fc.mutable_data_as<float>()[i] = 0.1f * float(i);
  ASSERT_TRUE(m->SetWeight("fc.bias", fc.view()).ok());
  const TensorMap edited = RunOk(*m, in, RunPath::kRefit, &info);
  EXPECT_EQ(info.weights_refitted, 1);
  EXPECT_EQ(info.slots_refitted, 1);
  ExpectClose(Oracle(in, [&](ir::Graph& g) { g.weights.at("fc.bias") = fc.Clone(); }), edited);
  RunOk(*m, in, RunPath::kNone);
  // Bad edits change nothing.
  EXPECT_FALSE(m->SetWeight("fc.bias", Tensor::Create(DataType::kF32, Shape{11})->view()).ok());
  EXPECT_FALSE(m->SetWeight("no.such", fc.view()).ok());
  Tensor nan = fc.Clone();
  nan.mutable_data_as<float>()[3] = NAN;
  EXPECT_FALSE(m->SetWeight("fc.bias", nan.view()).ok());
  EXPECT_FALSE(m->LoadStateDict(kDir + "/inputs.safetensors").ok());  // another model's tensors
  ExpectBitEqual(edited, RunOk(*m, in, RunPath::kNone));
}

TEST(MutableModelTest, LoraLoadSwitchScaleAndUnloadAreExact) {
  auto m = MutableModel::Open(kModel, Fast()).value();
  const TensorMap in = Inputs();
  const TensorMap base = RunOk(*m, in, RunPath::kRebuild);
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  RunInfo info;
  const TensorMap a = RunOk(*m, in, RunPath::kRefit, &info);
  EXPECT_EQ(info.weights_refitted, 2);  // conv2.weight, fc.weight
  // conv2 is BatchNorm-folded: its folded weight and bias slots, and the fc weight.
  EXPECT_EQ(info.slots_refitted, 3);
  ASSERT_TRUE(m->UnloadLora("A").ok());
  ExpectBitEqual(base, RunOk(*m, in, RunPath::kRefit));
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_b.safetensors", 0.5f, "B").ok());
  const TensorMap b = RunOk(*m, in, RunPath::kRefit);
  ASSERT_TRUE(m->SetLoraScale("B", 1.0f).ok());
  const TensorMap b1 = RunOk(*m, in, RunPath::kRefit);
  ASSERT_TRUE(m->UnloadLora("B").ok());
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  ExpectBitEqual(a, RunOk(*m, in, RunPath::kRefit));
  // The merged weights, against the reference executor with the delta merged independently.
  const TensorMap oracle_a = Oracle(in, [](ir::Graph& g) {
    auto f = SafetensorsFile::Open(kDir + "/lora_a/adapter_model.safetensors").value();
    for (const char* mod : {"conv2", "fc"}) {
      const std::string p = std::string("base_model.model.") + mod;
      const TensorView down = f->Get(p + ".lora_A.weight").value();
      const TensorView up = f->Get(p + ".lora_B.weight").value();
      Tensor& w = g.weights.at(std::string(mod) + ".weight");
      const int64_t rows = w.shape()[0], cols = w.NumElements() / rows, r = down.shape()[0];
      for (int64_t o = 0; o < rows; ++o) {
        for (int64_t c = 0; c < cols; ++c) {
          double sum = 0;
          for (int64_t k = 0; k < r; ++k) {
            sum += double(up.data_as<float>()[o * r + k]) * down.data_as<float>()[k * cols + c];
          }
          w.mutable_data_as<float>()[o * cols + c] += float(2.0 * sum);  // alpha 8 / r 4
        }
      }
    }
  });
  ExpectClose(oracle_a, a);
  ASSERT_FALSE(b.begin()->second.data_as<float>()[0] == b1.begin()->second.data_as<float>()[0]);
  // Bad adapters: refused, nothing changes.
  EXPECT_FALSE(m->LoadLora(kDir + "/missing_adapter").ok());
  EXPECT_FALSE(m->SetLoraScale("nope", 1).ok());
  EXPECT_FALSE(m->UnloadLora("nope").ok());
  ExpectBitEqual(a, RunOk(*m, in, RunPath::kNone));
}

TEST(MutableModelTest, OtherShapesGetTheirOwnEngineAndTheCacheServesOtherProcesses) {
  cache::MemoryTier::Process().Clear();  // engines of earlier tests would hit
  TestTempDir dir;
  auto m = MutableModel::Open(kModel, Fast(dir.path())).value();
  const TensorMap in1 = Inputs(1), in3 = Inputs(3);
  const TensorMap base1 = RunOk(*m, in1, RunPath::kRebuild);
  RunInfo info3;
  const TensorMap base3 = RunOk(*m, in3, RunPath::kRebuild, &info3);
  ExpectClose(Oracle(in3, [](ir::Graph&) {}), base3);
  RunInfo info1;
  RunOk(*m, in1, RunPath::kNone, &info1);
  EXPECT_NE(info1.cache_key, info3.cache_key);
  // An edit while on batch 3 reaches the batch 1 engine when it runs next.
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  RunOk(*m, in3, RunPath::kRefit);
  const TensorMap a1 = RunOk(*m, in1, RunPath::kRefit);
  // Another model object (a new process would do the same): both shapes come from the cache,
  // refitted with ITS weights (the base here).
  auto other = MutableModel::Open(kModel, DiskOnly(dir.path())).value();
  RunInfo hit;
  ExpectBitEqual(base1, RunOk(*other, in1, RunPath::kCacheHit, &hit));
  EXPECT_EQ(hit.cache_tier, "disk");
  ASSERT_TRUE(other->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  ExpectBitEqual(a1, RunOk(*other, in1, RunPath::kRefit));
  RunOk(*other, in3, RunPath::kCacheHit);
  // A replaced model of the same architecture keeps the engine: only weights are refitted.
  ASSERT_TRUE(other->ReplaceModel(kDir + "/model.onnx").ok());
  ExpectBitEqual(base1, RunOk(*other, in1, RunPath::kRefit));
}

TEST(MutableModelTest, KeepsAtMostMaxEnginesAndBringsDroppedOnesBackFromTheCache) {
  TestTempDir dir;
  MutableModelOptions options = DiskOnly(dir.path());  // the directory's entries
  options.max_engines = 2;
  auto m = MutableModel::Open(kModel, options).value();
  const TensorMap in1 = Inputs(1), in2 = Inputs(2), in3 = Inputs(3);
  RunOk(*m, in1, RunPath::kRebuild);
  RunOk(*m, in2, RunPath::kRebuild);
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  const TensorMap a2 = RunOk(*m, in2, RunPath::kRefit);
  RunOk(*m, in1, RunPath::kRefit);    // batch 2 is now the least recently run
  RunOk(*m, in3, RunPath::kRebuild);  // a third engine: batch 2's is dropped
  RunOk(*m, in1, RunPath::kNone);     // kept
  // Back from the cache (the entry its build stored), refitted with the current weights.
  ExpectBitEqual(a2, RunOk(*m, in2, RunPath::kCacheHit));
  RunOk(*m, in2, RunPath::kNone);
  RunOk(*m, in3, RunPath::kCacheHit);  // batch 3's engine was the least recent one now
}

TEST(MutableModelTest, ModelsOfOneProcessShareEnginesButNotWeights) {
  cache::MemoryTier::Process().Clear();
  TestTempDir dir;
  const TensorMap in = Inputs(2);
  TensorMap base, adapted;
  {
    auto first = MutableModel::Open(kModel, Fast(dir.path())).value();
    base = RunOk(*first, in, RunPath::kRebuild);
  }
  // The first model is gone; its engine (plan and kernels, no weights) stayed in the tier.
  EXPECT_EQ(cache::MemoryTier::Process().size(), 1);
  auto a = MutableModel::Open(kModel, Fast(dir.path())).value();
  auto b = MutableModel::Open(kModel, Fast(dir.path())).value();
  ASSERT_TRUE(b->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  RunInfo info_a, info_b;
  ExpectBitEqual(base, RunOk(*a, in, RunPath::kCacheHit, &info_a));
  adapted = RunOk(*b, in, RunPath::kCacheHit, &info_b);
  EXPECT_EQ(info_a.cache_tier, "memory");
  EXPECT_EQ(info_b.cache_tier, "memory");
  EXPECT_EQ(info_a.cache_key, info_b.cache_key);
  ASSERT_NE(std::memcmp(base.begin()->second.data(), adapted.begin()->second.data(),
                        base.begin()->second.nbytes()),
            0);
  ExpectClose(Oracle(in, [](ir::Graph&) {}), base);
  // The adapted output against a model of its own (no cache: a build with the adapter merged).
  auto own = MutableModel::Open(kModel, Fast()).value();
  ASSERT_TRUE(own->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  ExpectClose(RunOk(*own, in, RunPath::kRebuild), adapted);
  // Both models run at once on the shared kernels, each with its own weights, while b switches
  // its adapter off and on.
  std::atomic<int> bad{0};
  auto run = [&](MutableModel& m, const TensorMap& expected, bool toggle) {
    for (int i = 0; i < 20; ++i) {
      if (toggle) {
        if (!m.SetLoraScale("A", i % 2 == 0 ? 0.0f : 1.0f).ok()) ++bad;
      }
      auto out = m.Run(Views(in));
      if (!out.ok()) {
        ++bad;
        continue;
      }
      const TensorMap& want = toggle && i % 2 == 0 ? base : expected;
      for (const auto& [name, t] : want) {
        const Tensor& got = out->at(name);
        if (got.nbytes() != t.nbytes() || std::memcmp(got.data(), t.data(), t.nbytes()) != 0) ++bad;
      }
    }
  };
  std::thread ta([&] { run(*a, base, false); });
  std::thread tb([&] { run(*b, adapted, true); });
  ta.join();
  tb.join();
  EXPECT_EQ(bad.load(), 0);
  // A model that asks for the directory gets the entry the first model stored.
  auto c = MutableModel::Open(kModel, DiskOnly(dir.path())).value();
  RunInfo info_c;
  ExpectBitEqual(base, RunOk(*c, in, RunPath::kCacheHit, &info_c));
  EXPECT_EQ(info_c.cache_tier, "disk");
}

TEST(MutableModelTest, RunsAndEditsFromSeveralThreads) {
  auto m = MutableModel::Open(kModel, Fast()).value();
  const TensorMap in = Inputs();
  const TensorMap base = RunOk(*m, in, RunPath::kRebuild);
  ASSERT_TRUE(m->LoadLora(kDir + "/lora_a", 1.0f, "A").ok());
  const TensorMap a = RunOk(*m, in, RunPath::kRefit);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto out = m->Run(Views(in));
        ++runs;
        if (!out.ok()) {
          ++bad;
          continue;
        }
        const auto& v = out->begin()->second;
        const bool is_base = std::memcmp(v.data(), base.begin()->second.data(), v.nbytes()) == 0;
        const bool is_a = std::memcmp(v.data(), a.begin()->second.data(), v.nbytes()) == 0;
        if (!is_base && !is_a) ++bad;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((i % 2 == 0 ? m->UnloadLora("A") : m->LoadLora(kDir + "/lora_a", 1.0f, "A")).ok());
  }
  while (runs.load() < 10) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace refit
