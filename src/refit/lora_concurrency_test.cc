// Weight variants side by side: runs of different variants proceed concurrently while one of
// them is rescaled; each run sees exactly one set. Also run under ThreadSanitizer in CI (ctest
// label "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "refit/lora.h"
#include "refit/lora_test_util.h"

namespace refit::refitter {
namespace {

using namespace testing;  // NOLINT

TEST(LoraConcurrency, VariantsRunSideBySideAndShareUntouchedSlots) {
  const ir::Graph g = LoraGraph();
  const TensorMap inputs = HandInputs();
  engine::BuildOptions options = FastOptions();
  options.keep_sources = true;
  std::string bytes;
  ASSERT_NE(BuildAndLoad(g, options, &bytes), nullptr);
  engine::EngineOptions two;
  two.threads = 2;
  auto e = MustOpen(engine::Engine::FromBytes(bytes, "lora", two));
  ASSERT_NE(e, nullptr);
  TestTempDir dir;
  const TestModule conv = MakeModule("conv", "conv.weight", Shape{4, 3, 3, 3}, 2, 4, 11);
  const TestModule fc = MakeModule("fc", "fc.weight", Shape{8, 144}, 2, 2, 21);
  WritePeft(dir.File("a"), {&conv}, 2, 4);
  WritePeft(dir.File("b"), {&fc}, 2, 2);
  std::vector<WeightPrototype> protos;
  for (const auto& p : e->plan().sources) protos.push_back({p.name, p.dtype, p.shape});

  LoraRefitterOptions ao;
  ao.threads = 1;
  ao.variant = "a";
  LoraRefitter lora_a(e.get(), KeptBaseWeights(*e), ao);
  ASSERT_TRUE(lora_a.Load("a", LoadLoraAdapter(dir.File("a"), protos).value()).ok());
  ASSERT_TRUE(lora_a.Apply().ok());
  LoraRefitterOptions bo = ao;
  bo.variant = "b";
  LoraRefitter lora_b(e.get(), KeptBaseWeights(*e), bo);
  ASSERT_TRUE(lora_b.Load("b", LoadLoraAdapter(dir.File("b"), protos).value()).ok());
  ASSERT_TRUE(lora_b.Apply().ok());
  EXPECT_EQ(e->variants(), (std::vector<std::string>{"a", "b"}));

  // The default set is untouched; each variant owns only the slots its adapter changes.
  const TensorMap base = RunOk(*e, inputs);
  ExpectClose(Reference(g, inputs), base);
  auto out_b = e->RunVariant("b", Views(inputs));
  ASSERT_TRUE(out_b.ok()) << out_b.status().ToString();
  ExpectClose(Reference(Merged(g, {{&fc, 1.0}}), inputs), *out_b);
  auto out_a1 = e->RunVariant("a", Views(inputs));
  ASSERT_TRUE(out_a1.ok());
  ExpectClose(Reference(Merged(g, {{&conv, 2.0}}), inputs), *out_a1);
  const auto base_set = e->weights();
  const auto b_set = e->weights("b");
  uint64_t fc_bytes = 0;
  for (size_t s = 0; s < e->plan().slots.size(); ++s) {
    if (e->plan().slots[s].recipe.Sources() == std::vector<std::string>{"fc.weight"}) {
      fc_bytes += b_set->slots[s]->nbytes();
    }
  }
  EXPECT_GT(fc_bytes, 0u);
  EXPECT_EQ(b_set->BytesNotIn(*base_set), fc_bytes);
  ASSERT_TRUE(lora_a.SetScale("a", 0.5f).ok());
  ASSERT_TRUE(lora_a.Apply().ok());
  auto out_a2 = e->RunVariant("a", Views(inputs));
  ASSERT_TRUE(out_a2.ok());
  ASSERT_FALSE(SameBytes(*out_a1, *out_a2));

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, runs{0};
  std::vector<std::thread> runners;
  const std::vector<std::string> names = {"", "a", "b"};
  for (const std::string& variant : names) {
    runners.emplace_back([&, variant] {
      while (!stop.load()) {
        auto out = e->RunVariant(variant, Views(inputs));
        ++runs;
        const bool ok =
            out.ok() && (variant.empty()  ? SameBytes(*out, base)
                         : variant == "b" ? SameBytes(*out, *out_b)
                                          : SameBytes(*out, *out_a1) || SameBytes(*out, *out_a2));
        if (!ok) ++bad;
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(lora_a.SetScale("a", i % 2 == 0 ? 1.0f : 0.5f).ok());
    auto report = lora_a.Apply();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
  }
  while (runs.load() < 30) std::this_thread::yield();
  stop = true;
  for (std::thread& t : runners) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(e->weights(), base_set);
  ASSERT_TRUE(e->RemoveVariant("b").ok());
  EXPECT_FALSE(e->RunVariant("b", Views(inputs)).ok());
}

}  // namespace
}  // namespace refit::refitter
