// Internal to conv_winograd_avx2.cc and conv_winograd_blocked_avx512.cc, each of which includes it
// once, compiled for its own ISA: the 1-D transforms of Winograd's F(R, 3), R = 2 or 4, written
// once over a vector type. V gives the vector: `using T`, Add, Sub, Mul, Fmadd(a, b, c) =
// a * b + c, Fnmadd(a, b, c) = c - a * b and Set1. B^T maps R + 2 inputs to R + 2 values, A^T
// R + 2 products to R outputs, G 3 filter taps to R + 2 values; each 2-D transform is the 1-D one
// along rows, then along columns. Everything is in an anonymous namespace: each ISA's file has its
// own copy, never merged with the other's.
#pragma once

namespace refit::cpu::internal {
namespace {

template <typename V, int R>
struct WinogradF;

template <typename V>
struct WinogradF<V, 2> {
  using T = typename V::T;
  static void B(const T d[4], T r[4]) {
    r[0] = V::Sub(d[0], d[2]);
    r[1] = V::Add(d[1], d[2]);
    r[2] = V::Sub(d[2], d[1]);
    r[3] = V::Sub(d[1], d[3]);
  }
  static void A(const T m[4], T r[2]) {
    r[0] = V::Add(V::Add(m[0], m[1]), m[2]);
    r[1] = V::Sub(V::Sub(m[1], m[2]), m[3]);
  }
  static void G(T a, T b, T c, T r[4]) {
    const T outer = V::Add(a, c);
    r[0] = a;
    r[1] = V::Mul(V::Set1(0.5f), V::Add(outer, b));
    r[2] = V::Mul(V::Set1(0.5f), V::Sub(outer, b));
    r[3] = c;
  }
};

template <typename V>
struct WinogradF<V, 4> {
  using T = typename V::T;
  static void B(const T d[6], T r[6]) {
    const T d12 = V::Add(d[1], d[2]), d34 = V::Add(d[3], d[4]);
    const T d1m2 = V::Sub(d[1], d[2]), d4m3 = V::Sub(d[4], d[3]);
    const T d3m1 = V::Sub(d[3], d[1]), d4m2 = V::Sub(d[4], d[2]);
    r[0] = V::Fmadd(V::Set1(4.0f), d[0], V::Fnmadd(V::Set1(5.0f), d[2], d[4]));
    r[1] = V::Fnmadd(V::Set1(4.0f), d12, d34);
    r[2] = V::Fmadd(V::Set1(4.0f), d1m2, d4m3);
    r[3] = V::Fmadd(V::Set1(2.0f), d3m1, d4m2);
    r[4] = V::Fnmadd(V::Set1(2.0f), d3m1, d4m2);
    r[5] = V::Fmadd(V::Set1(4.0f), d[1], V::Fnmadd(V::Set1(5.0f), d[3], d[5]));
  }
  static void A(const T m[6], T r[4]) {
    const T a = V::Add(m[1], m[2]), b = V::Sub(m[1], m[2]);
    const T c = V::Add(m[3], m[4]), d = V::Sub(m[3], m[4]);
    r[0] = V::Add(V::Add(m[0], a), c);
    r[1] = V::Fmadd(V::Set1(2.0f), d, b);
    r[2] = V::Fmadd(V::Set1(4.0f), c, a);
    r[3] = V::Add(V::Fmadd(V::Set1(8.0f), d, b), m[5]);
  }
  static void G(T a, T b, T c, T r[6]) {
    const T ac = V::Add(a, c);
    const T p = V::Mul(c, V::Set1(1.0f / 6)), q = V::Mul(b, V::Set1(1.0f / 12));
    r[0] = V::Mul(a, V::Set1(0.25f));
    r[1] = V::Mul(V::Add(ac, b), V::Set1(-1.0f / 6));
    r[2] = V::Mul(V::Sub(ac, b), V::Set1(-1.0f / 6));
    r[3] = V::Fmadd(a, V::Set1(1.0f / 24), V::Add(p, q));
    r[4] = V::Fmadd(a, V::Set1(1.0f / 24), V::Sub(p, q));
    r[5] = c;
  }
};

}  // namespace
}  // namespace refit::cpu::internal
