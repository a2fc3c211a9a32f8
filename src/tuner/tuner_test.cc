// TuneLayer with fake tactics whose kernels busy-wait a set time: the fastest wins, failures are
// recorded, a timing-cache hit times nothing, and the runoff re-times close tactics in turn, so a
// tactic whose first pass was slowed by outside load is still chosen when it is the faster one.
#include "tuner/tuner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace refit::tuner {
namespace {

// Busy-waits `slow_us` for its first `slow_runs` runs (all kernels of the tactic counted
// together), then `us`.
struct FakeTiming {
  double us = 100;
  double slow_us = 0;
  int slow_runs = 0;
  bool fails = false;   // no kernel
  int fail_after = -1;  // runs that succeed before every run fails (-1: never)
  std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
};

class FakeKernel : public backend::Kernel {
 public:
  explicit FakeKernel(FakeTiming t) : t_(std::move(t)) {}
  Status Run(const backend::KernelIo&) const override {
    const int run = t_.runs->fetch_add(1);
    if (t_.fail_after >= 0 && run >= t_.fail_after) return Internal("run failed");
    const double us = run < t_.slow_runs ? t_.slow_us : t_.us;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(us);
    while (std::chrono::steady_clock::now() < until) {
    }
    return Status::Ok();
  }

 private:
  FakeTiming t_;
};

class FakeTactic : public backend::Tactic {
 public:
  FakeTactic(std::string name, FakeTiming t, int out_block = 0)
      : name_(std::move(name)), t_(std::move(t)), out_block_(out_block) {}
  std::string name() const override { return name_; }
  int OutputBlock() const override { return out_block_; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (t_.fails) return Internal("no kernel for " + name_);
    return std::unique_ptr<backend::Kernel>(new FakeKernel(t_));
  }

 private:
  std::string name_;
  FakeTiming t_;
  int out_block_;
};

// Counts the runs that find input 0 as the tuner made it (every value as in the first run, the
// warm-up), then zeroes it.
class ClobberingKernel : public backend::Kernel {
 public:
  explicit ClobberingKernel(std::shared_ptr<std::atomic<int>> intact)
      : intact_(std::move(intact)) {}
  Status Run(const backend::KernelIo& io) const override {
    Tensor* x = const_cast<Tensor*>(io.inputs[0]);
    float* p = x->mutable_data_as<float>();
    if (first_.empty()) first_.assign(p, p + x->NumElements());
    if (std::equal(first_.begin(), first_.end(), p)) ++*intact_;
    std::fill(p, p + x->NumElements(), 0.0f);
    return Status::Ok();
  }

 private:
  std::shared_ptr<std::atomic<int>> intact_;
  mutable std::vector<float> first_;
};

// `block` > 0: reads its input channel-blocked (the tuner then places it by rows).
class ClobberingTactic : public backend::Tactic {
 public:
  explicit ClobberingTactic(std::shared_ptr<std::atomic<int>> intact, int block = 0)
      : intact_(std::move(intact)), block_(block) {}
  std::string name() const override { return "clobbering"; }
  int InputBlock() const override { return block_; }
  int OutputBlock() const override { return block_; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new ClobberingKernel(intact_));
  }

 private:
  std::shared_ptr<std::atomic<int>> intact_;
  int block_;
};

struct Layer {
  ir::Node node;
  backend::LayerDesc desc;
  explicit Layer(Shape shape = Shape{1, 8}) {
    node.name = "fake";
    node.op_type = "Relu";
    node.inputs = {"x"};
    node.outputs = {"y"};
    desc.node = &node;
    desc.opset = 17;
    desc.inputs.push_back({DataType::kF32, shape, false});
    desc.weight = {false};
    desc.outputs.push_back({DataType::kF32, shape, false});
  }
};

// One warm-up and three timed runs per pass: the run counts below follow from that.
TunerOptions Options() {
  TunerOptions o;
  o.warmup_runs = 1;
  o.min_runs = 3;
  o.max_runs = 3;
  o.min_total_ms = 0;
  return o;
}

std::vector<std::unique_ptr<backend::Tactic>> Tactics(
    const std::vector<std::pair<std::string, FakeTiming>>& specs) {
  std::vector<std::unique_ptr<backend::Tactic>> out;
  for (const auto& [name, t] : specs) out.push_back(std::make_unique<FakeTactic>(name, t));
  return out;
}

TEST(TunerTest, ChoosesTheFastestAndRecordsFailures) {
  Layer l;
  FakeTiming slow{.us = 900}, fast{.us = 150}, broken{.fails = true};
  auto tactics = Tactics({{"a/slow", slow}, {"b/fast", fast}, {"c/broken", broken}});
  auto r = TuneLayer(l.desc, {}, tactics, "cpu", Options());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chosen, 1u);
  ASSERT_EQ(r->timings_us.size(), 2u);
  EXPECT_EQ(r->timings_us[0].first, "a/slow");
  EXPECT_EQ(r->timings_us[1].first, "b/fast");
  EXPECT_LT(r->timings_us[1].second, r->timings_us[0].second);
  ASSERT_EQ(r->failures.size(), 1u);
  EXPECT_NE(r->failures[0].find("c/broken"), std::string::npos);
  // Far outside the runoff margin: the slow tactic ran its first pass only.
  EXPECT_EQ(*slow.runs, 4);
}

TEST(TunerTest, EveryTacticFailingIsAnError) {
  Layer l;
  auto tactics = Tactics({{"a", FakeTiming{.fails = true}}, {"b", FakeTiming{.fails = true}}});
  auto r = TuneLayer(l.desc, {}, tactics, "cpu", Options());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("every tactic failed"), std::string::npos);
}

TEST(TunerTest, RunoffOutlastsLoadDuringOneTacticsFirstPass) {
  Layer l;
  // b is the faster tactic, but its whole first pass (4 runs) ran under load: 1.2x a's time.
  const FakeTiming a{.us = 500};
  const FakeTiming b{.us = 200, .slow_us = 600, .slow_runs = 4};
  {
    TunerOptions o = Options();
    o.runoff_rounds = 0;  // the first pass alone picks a
    auto r = TuneLayer(
        l.desc, {}, Tactics({{"a", FakeTiming{.us = a.us}}, {"b", FakeTiming{b.us, b.slow_us, 4}}}),
        "cpu", o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->chosen, 0u);
  }
  auto r = TuneLayer(l.desc, {}, Tactics({{"a", a}, {"b", b}}), "cpu", Options());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chosen, 1u);
  // Two runoff rounds of 4 runs each after the 4 of the first pass.
  EXPECT_EQ(*b.runs, 12);
  EXPECT_EQ(*a.runs, 12);
  EXPECT_LT(r->timings_us[1].second, r->timings_us[0].second);
}

TEST(TunerTest, RunoffTakesTheFastestOfEachLayoutBesidesTheFastest) {
  Layer l;
  // With runoff_tactics 2, plain a and b are the finalists by time; blocked d, slower than plain
  // c, is the fastest that writes its output in blocks of 16, and the layout selection compares
  // layouts by their best times: d gets the runoff, c does not.
  // (Far apart: busy-waits stretch under a loaded machine's preemption, and the test must not
  // depend on it.)
  const FakeTiming a{.us = 100}, b{.us = 150}, c{.us = 1000}, d{.us = 2000};
  std::vector<std::unique_ptr<backend::Tactic>> tactics;
  tactics.push_back(std::make_unique<FakeTactic>("a", a));
  tactics.push_back(std::make_unique<FakeTactic>("b", b));
  tactics.push_back(std::make_unique<FakeTactic>("c", c));
  tactics.push_back(std::make_unique<FakeTactic>("d/out16c", d, 16));
  TunerOptions o = Options();
  o.runoff_tactics = 2;
  o.runoff_margin = 100.0;  // every tactic is close enough for the runoff
  auto r = TuneLayer(l.desc, {}, tactics, "cpu", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chosen, 0u);
  EXPECT_EQ(*a.runs, 12);
  EXPECT_EQ(*b.runs, 12);
  EXPECT_EQ(*c.runs, 4);
  EXPECT_EQ(*d.runs, 12);
  ASSERT_EQ(r->timings_us.size(), 4u);
}

TEST(TunerTest, TacticFailingInTheRunoffIsDropped) {
  Layer l;
  // b is fastest in the first pass (4 runs), then fails: a is chosen, b's failure recorded.
  const FakeTiming a{.us = 300}, b{.us = 250, .fail_after = 4};
  auto r = TuneLayer(l.desc, {}, Tactics({{"a", a}, {"b", b}}), "cpu", Options());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chosen, 0u);
  ASSERT_EQ(r->failures.size(), 1u);
  EXPECT_NE(r->failures[0].find("b: run failed"), std::string::npos);
  ASSERT_EQ(r->timings_us.size(), 1u);
  EXPECT_EQ(r->timings_us[0].first, "a");
}

TEST(TunerTest, WithThreadsEveryTimedRunFindsItsInputWrittenAfresh) {
  // An engine's layer reads what the threads of the layer before it just wrote, each its own
  // part: with a pool, the tuner rewrites the inputs from a pristine copy, in one part per thread,
  // before every timed run. So a kernel that zeroes its input finds it whole on each timed run:
  // a plain input (contiguous parts), and a channel-blocked one of fewer images than threads
  // (per block, rows: 7 rows in 2 and in 3 parts).
  struct Case {
    Shape shape;
    int block, threads;
  };
  for (const Case& c : {Case{Shape{1, 8}, 0, 1}, Case{Shape{1, 8}, 0, 2},
                        Case{Shape{1, 48, 7, 5}, 16, 2}, Case{Shape{2, 32, 7, 3}, 16, 3}}) {
    const int threads = c.threads;
    SCOPED_TRACE(c.shape.ToString() + " block " + std::to_string(c.block) + ", " +
                 std::to_string(threads) + " threads");
    Layer l(c.shape);
    ThreadPool pool(threads);
    auto intact = std::make_shared<std::atomic<int>>(0);
    std::vector<std::unique_ptr<backend::Tactic>> tactics;
    tactics.push_back(std::make_unique<ClobberingTactic>(intact, c.block));
    tactics.push_back(std::make_unique<FakeTactic>("slow", FakeTiming{.us = 5000}));
    TunerOptions o = Options();
    o.pool = &pool;
    o.runoff_rounds = 0;
    auto r = TuneLayer(l.desc, {}, tactics, "cpu", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // One warm-up (the input as made) and three timed runs: with one thread nothing rewrites
    // the input, so only the warm-up found it intact.
    EXPECT_EQ(*intact, threads == 1 ? 1 : 4);
  }
}

TEST(TunerTest, TimingCacheHitTimesNothing) {
  Layer l;
  TimingCache cache;
  TunerOptions o = Options();
  o.cache = &cache;
  const FakeTiming a{.us = 400}, b{.us = 100};
  auto first = TuneLayer(l.desc, {}, Tactics({{"a", a}, {"b", b}}), "cpu", o);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->chosen, 1u);
  EXPECT_FALSE(first->from_cache);
  const FakeTiming a2{.us = 400}, b2{.us = 100};
  auto second = TuneLayer(l.desc, {}, Tactics({{"a", a2}, {"b", b2}}), "cpu", o);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->chosen, 1u);
  EXPECT_EQ(*a2.runs + *b2.runs, 0);
}

}  // namespace
}  // namespace refit::tuner
