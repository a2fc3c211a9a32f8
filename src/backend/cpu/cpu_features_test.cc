#include "backend/cpu/cpu_features.h"

#include <gtest/gtest.h>

namespace refit::cpu {
namespace {

TEST(CpuFeaturesTest, StringFormIsFixedOrderAndRoundTrips) {
  CpuFeatures f;
  f.fma = true;
  f.avx512f = true;
  f.avx2 = true;
  EXPECT_EQ(f.ToString(), "avx2,fma,avx512f");
  StatusOr<CpuFeatures> parsed = CpuFeatures::Parse("avx2,fma,avx512f");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, f);
  // Order in the input does not matter; output order is canonical.
  StatusOr<CpuFeatures> reordered = CpuFeatures::Parse("avx512f,fma,avx2");
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(*reordered, f);
}

TEST(CpuFeaturesTest, EmptySetIsEmptyString) {
  EXPECT_EQ(CpuFeatures().ToString(), "");
  StatusOr<CpuFeatures> parsed = CpuFeatures::Parse("");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, CpuFeatures());
}

TEST(CpuFeaturesTest, UnknownNameIsAnErrorNamingIt) {
  StatusOr<CpuFeatures> parsed = CpuFeatures::Parse("avx2,sse9");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("sse9"), std::string::npos);
  EXPECT_FALSE(CpuFeatures::Parse("avx2,,fma").ok());
}

TEST(CpuFeaturesTest, CoversAndMissing) {
  CpuFeatures have;
  have.avx = have.avx2 = have.fma = true;
  CpuFeatures need;
  need.avx2 = need.avx512f = need.avx512vl = true;
  EXPECT_FALSE(have.Covers(need));
  EXPECT_EQ(have.Missing(need), "avx512f,avx512vl");
  need.avx512f = need.avx512vl = false;
  EXPECT_TRUE(have.Covers(need));
  EXPECT_EQ(have.Missing(need), "");
}

TEST(CpuFeaturesTest, DetectionIsConsistent) {
  const CpuFeatures& f = DetectCpuFeatures();
  // Every x86-64 CPU with AVX-512F has AVX2 and FMA; AVX2 implies AVX.
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2 && f.fma);
  }
  if (f.avx2) {
    EXPECT_TRUE(f.avx);
  }
  StatusOr<CpuFeatures> parsed = CpuFeatures::Parse(f.ToString());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, f);
  EXPECT_EQ(&DetectCpuFeatures(), &f);
}

}  // namespace
}  // namespace refit::cpu
