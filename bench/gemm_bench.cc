// Our packed GEMM kernels against OpenBLAS cblas_sgemm, one thread, GFLOP/s as the "GFLOPS"
// counter. Also the cost of packing a weight (the refit path), as bytes/s: GEMM panels, and the
// Winograd weight transforms of conv_winograd (plain: [P][M][C]; blocked: per position packed-B
// panels) against memcpy of the bytes they write.
//
//   build/<dir>/bench/gemm_bench --benchmark_min_time=0.5
#include <cblas.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/conv_isa.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {
namespace {

struct Shape {
  const char* name;
  int64_t m, n, k;
};
constexpr Shape kShapes[] = {
    {"256^3", 256, 256, 256},
    {"1024^3", 1024, 1024, 1024},
    {"conv3136x64x576", 3136, 64, 576},  // ResNet-style 3x3 conv, 56x56, 64 channels, im2col
    {"conv64x3136x576", 64, 3136, 576},  // the same as conv_gemm runs it: weights as A
};

std::vector<float> RandomVector(size_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(gen);
  return v;
}

void SetFlops(benchmark::State& state, const Shape& s) {
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * s.m * s.n * s.k * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BenchOurs(benchmark::State& state, GemmKernelInfo info, Shape s) {
  const std::vector<float> a = RandomVector(s.m * s.k, 1), b = RandomVector(s.k * s.n, 2);
  std::vector<float> packed(PackedBSize(info, s.k, s.n)), c(s.m * s.n);
  PackB(info, b.data(), s.n, false, s.k, s.n, packed.data());
  for (auto _ : state) {
    GemmPacked(info, s.m, s.n, s.k, a.data(), s.k, packed.data(), nullptr, c.data(), s.n,
               Activation::kNone, nullptr);
    benchmark::ClobberMemory();
  }
  SetFlops(state, s);
}

void BenchOpenBlas(benchmark::State& state, Shape s) {
  const std::vector<float> a = RandomVector(s.m * s.k, 1), b = RandomVector(s.k * s.n, 2);
  std::vector<float> c(s.m * s.n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f,
                a.data(), int(s.k), b.data(), int(s.n), 0.0f, c.data(), int(s.n));
    benchmark::ClobberMemory();
  }
  SetFlops(state, s);
}

void BenchPackB(benchmark::State& state, GemmKernelInfo info, bool trans_b) {
  const int64_t k = 1024, n = 1024;
  const std::vector<float> b = RandomVector(k * n, 3);
  std::vector<float> packed(PackedBSize(info, k, n));
  for (auto _ : state) {
    PackB(info, b.data(), trans_b ? k : n, trans_b, k, n, packed.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * k * n * int64_t(sizeof(float)));
}

// A refit's pack of a Linear layer's [out, in] weight (mobilenet_v2's classifier: 1000 x 1280),
// transposed into panels with every value checked, and scaled (a BatchNorm folded in) or not.
void BenchPackScaledTransposed(benchmark::State& state, GemmKernelInfo info, bool scaled) {
  const int64_t k = 1280, n = 1000;
  const std::vector<float> b = RandomVector(n * k, 5);
  const std::vector<float> scale = RandomVector(n, 6);
  std::vector<float> packed(PackedBSize(info, k, n));
  for (auto _ : state) {
    if (!PackBScaledTransposed(info, b.data(), k, k, n, scaled ? scale.data() : nullptr,
                               packed.data())) {
      state.SkipWithError("not finite");
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * k * n * int64_t(sizeof(float)));
}

// A refit's pack of a 3x3 c x c convolution weight (ResNet-18's are 64 to 512 channels) for
// conv_winograd F(r x r, 3x3), plain or blocked (the kernel's NR panels), or memcpy of the bytes
// the pack writes. Bytes/s count the bytes written.
enum class WinogradPack { kPlain, kBlocked, kMemcpy };
void BenchWinogradPack(benchmark::State& state, int r, int64_t c, WinogradPack how, int64_t nr) {
  const int64_t positions = (r + 2) * (r + 2);
  const std::vector<float> w = RandomVector(c * c * 9, 7);
  // The blocked tactic's stride between positions: a line more when a multiple of 4 KiB.
  int64_t stride = how == WinogradPack::kBlocked ? (c + nr - 1) / nr * nr * c : c * c;
  if (how == WinogradPack::kBlocked && stride % 1024 == 0) stride += 16;
  std::vector<float> packed(positions * stride), source(packed.size());
  for (auto _ : state) {
    bool ok = true;
    if (how == WinogradPack::kPlain) {
      ok = r == 2 ? internal::WinogradPack2Avx2(w.data(), c, c, nullptr, packed.data())
                  : internal::WinogradPack4Avx2(w.data(), c, c, nullptr, packed.data());
    } else if (how == WinogradPack::kBlocked) {
      ok = r == 2
               ? internal::WinogradPackB2Avx2(w.data(), c, c, nullptr, nr, stride, packed.data())
               : internal::WinogradPackB4Avx2(w.data(), c, c, nullptr, nr, stride, packed.data());
    } else {
      std::memcpy(packed.data(), source.data(), packed.size() * sizeof(float));
    }
    if (!ok) state.SkipWithError("not finite");
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(packed.size() * sizeof(float)));
}

void RegisterAll() {
  const std::vector<GemmKernelInfo> kernels = AvailableGemmKernels(DetectCpuFeatures());
  for (const Shape& s : kShapes) {
    benchmark::RegisterBenchmark(("sgemm/" + std::string(s.name) + "/openblas").c_str(),
                                 BenchOpenBlas, s)
        ->Unit(benchmark::kMillisecond);
    for (const GemmKernelInfo& info : kernels) {
      benchmark::RegisterBenchmark(("sgemm/" + std::string(s.name) + "/" + info.Name()).c_str(),
                                   BenchOurs, info, s)
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const GemmKernelInfo& info : kernels) {
    for (bool trans_b : {false, true}) {
      benchmark::RegisterBenchmark(
          ("packb/1024^2/" + info.Name() + (trans_b ? "/trans" : "/plain")).c_str(), BenchPackB,
          info, trans_b);
    }
    for (bool scaled : {false, true}) {
      benchmark::RegisterBenchmark(
          ("pack_checked_transposed/1000x1280/" + info.Name() + (scaled ? "/scaled" : "/plain"))
              .c_str(),
          BenchPackScaledTransposed, info, scaled);
    }
  }
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx2 && cpu.fma) {
    for (int r : {2, 4}) {
      for (int64_t c : {64, 512}) {
        const std::string shape = "winograd_pack/f" + std::to_string(r) + "/" + std::to_string(c);
        benchmark::RegisterBenchmark((shape + "/plain").c_str(), BenchWinogradPack, r, c,
                                     WinogradPack::kPlain, 0);
        benchmark::RegisterBenchmark((shape + "/blocked_nr48").c_str(), BenchWinogradPack, r, c,
                                     WinogradPack::kBlocked, 48);
        benchmark::RegisterBenchmark((shape + "/memcpy").c_str(), BenchWinogradPack, r, c,
                                     WinogradPack::kMemcpy, 0);
      }
    }
  }
}

}  // namespace
}  // namespace refit::cpu

int main(int argc, char** argv) {
  openblas_set_num_threads(1);
  benchmark::AddCustomContext("cpu_features", refit::cpu::DetectCpuFeatures().ToString());
  // OpenBLAS picks its kernel from the CPUID model; an unknown model falls back to a slow core.
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  refit::cpu::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
