#include "backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <string>

#include "backend/cpu/cpu_features.h"

namespace refit::cpu {
namespace {

// The timing cache keys its entries by this: it must change with the CPU, the libraries and the
// tactics refit has, so a cache never outlives any of them.
TEST(CpuBackendTest, FingerprintNamesTheCpuTheLibrariesAndTheTactics) {
  const std::string fp = CreateCpuBackend()->fingerprint();
  EXPECT_EQ(fp.rfind("cpu tactics ", 0), 0u) << fp;
  EXPECT_NE(fp.find(DetectCpuFeatures().ToString()), std::string::npos) << fp;
  EXPECT_NE(fp.find(CpuModelName()), std::string::npos) << fp;
  EXPECT_NE(fp.find("; oneDNN "), std::string::npos) << fp;
  EXPECT_NE(fp.find("OpenBLAS"), std::string::npos) << fp;
  EXPECT_EQ(fp, CreateCpuBackend()->fingerprint());
}

}  // namespace
}  // namespace refit::cpu
