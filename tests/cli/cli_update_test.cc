// `refit update` and `refit run --weights` as a user drives them on the tiny_cnn example: refits
// from safetensors and from ONNX exports (by name and by graph position), mode changes, and every
// bad input refused with a clear error, no file written and the engine unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "cli_engine_fixture.h"
#include "cli_weights_util.h"
#include "onnx/onnx_pb.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

class CliUpdateTest : public CliEngineTest {
 protected:
  std::string RunTo(const std::string& engine, const std::string& name,
                    const std::string& extra = "") {
    const std::string out = Path("out_" + name + ".safetensors");
    Result r = Refit("run " + engine + " --inputs " + kInputs + " -o " + out + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return out;
  }
};

TEST_F(CliUpdateTest, Help) {
  Result r = Refit("update --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* flag : {"--weights", "--mode", "-o"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
  }
}

// W1 -> W2 -> W1 through engine files: W2 changes the outputs, W1 restores them bit-exactly.
TEST_F(CliUpdateTest, RefitToNewWeightsAndBackIsExact) {
  const std::string w1 = Path("w1.safetensors"), w2 = Path("w2.safetensors");
  WriteWeights(w1, [](const std::string&, int64_t, float v) { return v; });
  WriteWeights(w2,
               [](const std::string&, int64_t i, float v) { return v * 1.25f + 0.01f * (i % 7); });
  const std::string original = RunTo(Engine("refittable"), "orig");
  Result r =
      Refit("update " + Engine("refittable") + " -o " + Path("w2.engine") + " --weights " + w2);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("refitted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ms"), std::string::npos) << r.out;
  const std::string changed = RunTo(Path("w2.engine"), "w2");
  EXPECT_NE(ReadBytes(changed), ReadBytes(original));
  r = Refit("update " + Path("w2.engine") + " -o " + Path("back.engine") + " --weights " + w1);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(ReadBytes(RunTo(Path("back.engine"), "back")), ReadBytes(original));
  ExpectRecordedOutputs(original);
  // In memory, the same: run --weights refits before running.
  EXPECT_EQ(ReadBytes(RunTo(Engine("refittable"), "mem", " --weights " + w2)), ReadBytes(changed));
}

TEST_F(CliUpdateTest, OnnxExportWithOtherNamesIsMatchedByPosition) {
  onnx::ModelProto m = LoadModelProto();
  std::map<std::string, std::string> renamed;
  int k = 0;
  for (onnx::TensorProto& init : *m.mutable_graph()->mutable_initializer()) {
    renamed[init.name()] = "exporter_" + std::to_string(k++);
    init.set_name(renamed[init.name()]);
  }
  for (onnx::NodeProto& node : *m.mutable_graph()->mutable_node()) {
    for (std::string& in : *node.mutable_input()) {
      if (renamed.count(in)) in = renamed[in];
    }
  }
  const std::string path = Path("renamed.onnx");
  SaveModelProto(m, path);
  Result r = Refit("update " + Engine("stripped") + " -o " + Path("filled.engine") +
                   " --mode refittable --weights " + path);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("by position"), std::string::npos) << r.out;
  ExpectRecordedOutputs(RunTo(Path("filled.engine"), "filled"));

  // Same operators, another attribute: not the same architecture.
  for (onnx::NodeProto& node : *m.mutable_graph()->mutable_node()) {
    if (node.op_type() != "Conv") continue;
    for (onnx::AttributeProto& a : *node.mutable_attribute()) {
      if (a.name() == "pads") {
        for (int i = 0; i < a.ints_size(); ++i) a.set_ints(i, a.ints(i) + 1);
      }
    }
    break;
  }
  SaveModelProto(m, path);
  r = Refit("update " + Engine("refittable") + " -o " + Path("never.engine") + " --weights " +
            path);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not the same architecture"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("never.engine")));
}

TEST_F(CliUpdateTest, ModesChangeWithoutRebuilding) {
  const std::string stripped = Path("to_stripped.engine");
  Result r = Refit("update " + Engine("refittable") + " -o " + stripped + " --mode stripped");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_LT(fs::file_size(stripped), fs::file_size(Engine("refittable")));
  r = Refit("update " + stripped + " -o " + Path("no.engine") + " --mode refittable");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("needs its weights"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("no.engine")));
  r = Refit("update " + stripped + " -o " + Path("full.engine") + " --mode refittable --weights " +
            kModel);
  ASSERT_EQ(r.code, 0) << r.out;
  ExpectRecordedOutputs(RunTo(Path("full.engine"), "full"));
  r = Refit("update " + Engine("static") + " -o " + Path("no.engine") + " --weights " + kModel);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("static"), std::string::npos) << r.out;
  r = Refit("update " + Engine("refittable") + " -o " + Path("no.engine"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("nothing to do"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("no.engine")));
}

// Each bad weights file: a clear error, nothing written, the engine file untouched.
TEST_F(CliUpdateTest, BadWeightsChangeNothing) {
  const std::string engine = Engine("refittable");
  const std::string before = ReadBytes(engine);
  const std::string good = Path("good.safetensors");
  WriteWeights(good, [](const std::string&, int64_t, float v) { return v; });
  struct Case {
    std::string name, file, wanted;
  };
  std::vector<Case> cases;
  // NaN in one weight.
  cases.push_back({"nan", Path("nan.safetensors"), "NaN"});
  WriteWeights(cases.back().file, [](const std::string& n, int64_t i, float v) {
    return i == 3 && n.find("weight") != std::string::npos ? std::numeric_limits<float>::quiet_NaN()
                                                           : v;
  });
  // Another model's weights: no name matches.
  cases.push_back({"foreign", Path("foreign.safetensors"), "another model"});
  {
    const Tensor t = Tensor::FromVector<float>(Shape{2}, {1, 2});
    ASSERT_TRUE(WriteSafetensors(cases.back().file, {{"encoder.layer.0.weight", t.view()}}).ok());
  }
  // The right names with a wrong shape.
  cases.push_back({"shape", Path("shape.safetensors"), "expected f32"});
  {
    auto f = SafetensorsFile::Open(good);
    ASSERT_TRUE(f.ok());
    const std::string name = (*f)->names()[0];
    const Tensor t = Tensor::FromVector<float>(Shape{3}, {1, 2, 3});
    ASSERT_TRUE(WriteSafetensors(cases.back().file, {{name, t.view()}}).ok());
  }
  // Truncated.
  cases.push_back({"truncated", Path("truncated.safetensors"), "truncated.safetensors"});
  {
    const std::string bytes = ReadBytes(good);
    std::ofstream(cases.back().file, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  cases.push_back({"missing", Path("does_not_exist.safetensors"), "does_not_exist"});
  for (const Case& c : cases) {
    const std::string out = Path("bad_" + c.name + ".engine");
    Result r = Refit("update " + engine + " -o " + out + " --weights " + c.file);
    EXPECT_EQ(r.code, 1) << c.name << "\n" << r.out;
    EXPECT_NE(r.out.find(c.wanted), std::string::npos) << c.name << "\n" << r.out;
    EXPECT_FALSE(fs::exists(out)) << c.name;
    // In place (-o ENGINE) as well: the file must stay as it was.
    r = Refit("update " + engine + " -o " + engine + " --weights " + c.file);
    EXPECT_EQ(r.code, 1) << c.name << "\n" << r.out;
    EXPECT_EQ(ReadBytes(engine), before) << c.name;
  }
  ExpectRecordedOutputs(RunTo(engine, "after_bad"));
}

}  // namespace
}  // namespace refit
