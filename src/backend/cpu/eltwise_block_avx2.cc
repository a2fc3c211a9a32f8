// AVX2 + FMA runner of one element-wise program block (eltwise_kernel.h). Transcendental functions
// are polynomial / rational approximations with relative error around 1e-7 (exp: Cephes; tanh and
// erf: rational fits on [-8, 8] and [-4, 4]). Opcodes without vector code (Log, Softplus, Celu,
// Sin, Cos, general Pow) go to the ISA-neutral scalar code. Programs of a known shape (GELU) run
// in one register pass (MatchPattern). Everything here has internal linkage: nothing inline may
// leak into baseline code.
#include <immintrin.h>

#include "backend/cpu/eltwise_kernel.h"

namespace refit::cpu::internal {
namespace {

// Mirrors ir::EwOp (ir/fused_elementwise.h), whose numbers are part of the engine format.
enum Op : int32_t {
  kRelu = 1,
  kSigmoid = 2,
  kTanh = 3,
  kErf = 4,
  kExp = 5,
  kLog = 6,
  kSqrt = 7,
  kNeg = 8,
  kAbs = 9,
  kReciprocal = 10,
  kFloor = 11,
  kCeil = 12,
  kHardSwish = 13,
  kLeakyRelu = 14,
  kHardSigmoid = 15,
  kClip = 16,
  kSoftplus = 17,
  kElu = 18,
  kSelu = 19,
  kPRelu = 20,
  kThresholdedRelu = 21,
  kSoftsign = 22,
  kCelu = 23,
  kSin = 24,
  kCos = 25,
  kSign = 26,
  kRound = 27,
  kAdd = 32,
  kSub = 33,
  kMul = 34,
  kDiv = 35,
  kPow = 36,
  kMax = 37,
  kMin = 38,
};

inline __m256 Set1(float v) { return _mm256_set1_ps(v); }
// std::min(a, b) = b < a ? b : a and std::max(a, b) = a < b ? b : a, NaN behaviour included.
inline __m256 StdMin(__m256 a, __m256 b) {
  return _mm256_blendv_ps(a, b, _mm256_cmp_ps(b, a, _CMP_LT_OQ));
}
inline __m256 StdMax(__m256 a, __m256 b) {
  return _mm256_blendv_ps(a, b, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
inline __m256 IsNan(__m256 x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
// Max / Min: a NaN in x wins, then one in y (numpy's propagation, as the reference does it).
inline __m256 NanFirst(__m256 x, __m256 y, __m256 r) {
  r = _mm256_blendv_ps(r, y, IsNan(y));
  return _mm256_blendv_ps(r, x, IsNan(x));
}

// exp(x): x = n ln2 + r, Cephes polynomial for exp(r), 2^n applied in two halves so that results
// near the overflow / underflow ends stay exact; NaN passes through.
inline __m256 Exp(__m256 x0) {
  const __m256 x = _mm256_min_ps(_mm256_max_ps(x0, Set1(-104.f)), Set1(89.f));
  const __m256 fx = _mm256_round_ps(_mm256_fmadd_ps(x, Set1(1.44269504088896341f), Set1(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, Set1(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, Set1(-2.12194440e-4f), r);
  const __m256 z = _mm256_mul_ps(r, r);
  __m256 y = Set1(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, r, Set1(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, r, Set1(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, r, Set1(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, r, Set1(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, r, Set1(5.0000001201E-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, z, r), Set1(1.f));
  const __m256i n = _mm256_cvtps_epi32(fx);
  const __m256i n1 = _mm256_srai_epi32(n, 1);
  const __m256i n2 = _mm256_sub_epi32(n, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  y = _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
  return _mm256_blendv_ps(y, x0, IsNan(x0));
}

inline __m256 Sigmoid(__m256 x) {
  const __m256 sign = Set1(-0.f);
  const __m256 e = Exp(_mm256_or_ps(x, sign));  // exp(-|x|) never overflows
  const __m256 d = _mm256_add_ps(Set1(1.f), e);
  const __m256 pos = _mm256_div_ps(Set1(1.f), d);
  const __m256 neg = _mm256_div_ps(e, d);
  return _mm256_blendv_ps(pos, neg, x);  // sign bit of x selects
}

// tanh(x) = x P(x^2) / Q(x^2) on [-7.99881172, 7.99881172] (beyond, tanh is +-1 in float), the
// rational fit of Eigen's float tanh; x itself below 4e-4 (keeps -0 and subnormals). Maximum
// relative error 2.9e-7 over every float in [-10, 10] against tanh in double (one pass of FMAs
// and a division, where an exp-based form needs both an exp and a polynomial).
inline __m256 Tanh(__m256 x0) {
  const __m256 x =
      _mm256_min_ps(_mm256_max_ps(x0, Set1(-7.99881172180175781f)), Set1(7.99881172180175781f));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_fmadd_ps(x2, Set1(-2.76076847742355e-16f), Set1(2.00018790482477e-13f));
  p = _mm256_fmadd_ps(x2, p, Set1(-8.60467152213735e-11f));
  p = _mm256_fmadd_ps(x2, p, Set1(5.12229709037114e-08f));
  p = _mm256_fmadd_ps(x2, p, Set1(1.48572235717979e-05f));
  p = _mm256_fmadd_ps(x2, p, Set1(6.37261928875436e-04f));
  p = _mm256_fmadd_ps(x2, p, Set1(4.89352455891786e-03f));
  p = _mm256_mul_ps(x, p);
  __m256 q = _mm256_fmadd_ps(x2, Set1(1.19825839466702e-06f), Set1(1.18534705686654e-04f));
  q = _mm256_fmadd_ps(x2, q, Set1(2.26843463243900e-03f));
  q = _mm256_fmadd_ps(x2, q, Set1(4.89352518554385e-03f));
  const __m256 r = _mm256_div_ps(p, q);
  // |x0| < 4e-4 or NaN: x0 itself.
  const __m256 keep = _mm256_cmp_ps(_mm256_andnot_ps(Set1(-0.f), x0), Set1(4e-4f), _CMP_NGE_UQ);
  return _mm256_blendv_ps(r, x0, keep);
}

// erf(x) = x * P(x^2) / Q(x^2) on [-4, 4] (beyond, erf is +-1 in float).
inline __m256 Erf(__m256 x0) {
  const __m256 x = _mm256_min_ps(_mm256_max_ps(x0, Set1(-4.f)), Set1(4.f));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = Set1(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(p, z, Set1(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(p, z, Set1(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(p, z, Set1(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(p, z, Set1(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(p, z, Set1(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(p, z, Set1(-1.60960333262415e-02f));
  p = _mm256_mul_ps(p, x);
  __m256 q = Set1(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(q, z, Set1(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(q, z, Set1(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(q, z, Set1(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(q, z, Set1(-1.42647390514189e-02f));
  const __m256 r = _mm256_div_ps(p, q);
  return _mm256_blendv_ps(r, x0, IsNan(x0));
}

inline __m256 Load(const EwOperand& v, int64_t i) {
  return v.scalar ? _mm256_broadcast_ss(v.p) : _mm256_loadu_ps(v.p + i);
}
inline __m256 LoadTail(const EwOperand& v, int64_t i, __m256i mask) {
  return v.scalar ? _mm256_broadcast_ss(v.p) : _mm256_maskload_ps(v.p + i, mask);
}

// dst[0, n) = f(a, b, c) with the scalar / vector form of each operand resolved per call.
template <typename F>
void Loop(const EwOperand& a, const EwOperand& b, const EwOperand& c, float* dst, int64_t n, F f) {
  int64_t i = 0;
  if (!a.scalar && b.scalar && c.scalar) {  // the common shape: unary, or binary with a scalar
    const __m256 vb = _mm256_broadcast_ss(b.p), vc = _mm256_broadcast_ss(c.p);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f(_mm256_loadu_ps(a.p + i), vb, vc));
  } else if (!a.scalar && !b.scalar && c.scalar) {
    const __m256 vc = _mm256_broadcast_ss(c.p);
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(dst + i, f(_mm256_loadu_ps(a.p + i), _mm256_loadu_ps(b.p + i), vc));
    }
  } else {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f(Load(a, i), Load(b, i), Load(c, i)));
  }
  if (i < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)), lane);
    _mm256_maskstore_ps(dst + i, mask,
                        f(LoadTail(a, i, mask), LoadTail(b, i, mask), LoadTail(c, i, mask)));
  }
}

// Returns false when the opcode has no vector code here.
bool RunVector(const EwCode& code, const EwOperand& a, const EwOperand& b, const EwOperand& c,
               float* dst, int64_t n) {
  const __m256 zero = _mm256_setzero_ps(), one = Set1(1.f);
  switch (code.op) {
    case kRelu:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) {
        return _mm256_and_ps(x, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
      });
      return true;
    case kSigmoid:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return Sigmoid(x); });
      return true;
    case kTanh:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return Tanh(x); });
      return true;
    case kErf:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return Erf(x); });
      return true;
    case kExp:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return Exp(x); });
      return true;
    case kSqrt:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return _mm256_sqrt_ps(x); });
      return true;
    case kNeg:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return _mm256_xor_ps(x, Set1(-0.f)); });
      return true;
    case kAbs:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) {
        return _mm256_blendv_ps(x, _mm256_xor_ps(x, Set1(-0.f)),
                                _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
      });
      return true;
    case kReciprocal:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) { return _mm256_div_ps(one, x); });
      return true;
    case kFloor:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return _mm256_floor_ps(x); });
      return true;
    case kCeil:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return _mm256_ceil_ps(x); });
      return true;
    case kHardSwish:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) {
        const __m256 t = _mm256_add_ps(_mm256_div_ps(x, Set1(6.f)), Set1(0.5f));
        return _mm256_mul_ps(x, StdMax(zero, StdMin(one, t)));
      });
      return true;
    case kLeakyRelu:
    case kPRelu:  // the slope an input rather than an attribute
      Loop(a, b, c, dst, n, [&](__m256 x, __m256 alpha, __m256) {
        return _mm256_blendv_ps(x, _mm256_mul_ps(alpha, x), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
      });
      return true;
    case kHardSigmoid:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256 alpha, __m256 beta) {
        return StdMax(zero, StdMin(one, _mm256_add_ps(_mm256_mul_ps(alpha, x), beta)));
      });
      return true;
    case kElu:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256 alpha, __m256) {
        const __m256 neg = _mm256_mul_ps(alpha, _mm256_sub_ps(Exp(x), one));
        return _mm256_blendv_ps(x, neg, _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
      });
      return true;
    case kSelu:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256 alpha, __m256 gamma) {
        const __m256 neg = _mm256_mul_ps(gamma, _mm256_sub_ps(_mm256_mul_ps(alpha, Exp(x)), alpha));
        return _mm256_blendv_ps(neg, _mm256_mul_ps(gamma, x), _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
      });
      return true;
    case kThresholdedRelu:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256 alpha, __m256) {
        return _mm256_and_ps(x, _mm256_cmp_ps(x, alpha, _CMP_GT_OQ));
      });
      return true;
    case kSoftsign:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) {
        const __m256 abs = _mm256_andnot_ps(Set1(-0.f), x);
        return _mm256_div_ps(x, _mm256_add_ps(one, abs));
      });
      return true;
    case kSign:
      Loop(a, b, c, dst, n, [&](__m256 x, __m256, __m256) {
        const __m256 pos = _mm256_and_ps(one, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
        const __m256 neg = _mm256_and_ps(Set1(-1.f), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
        return _mm256_blendv_ps(_mm256_or_ps(pos, neg), x, IsNan(x));
      });
      return true;
    case kRound:
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) {
        return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      });
      return true;
    case kClip:
      Loop(a, b, c, dst, n,
           [](__m256 x, __m256 lo, __m256 hi) { return StdMin(StdMax(x, lo), hi); });
      return true;
    case kAdd:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) { return _mm256_add_ps(x, y); });
      return true;
    case kSub:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) { return _mm256_sub_ps(x, y); });
      return true;
    case kMul:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) { return _mm256_mul_ps(x, y); });
      return true;
    case kDiv:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) { return _mm256_div_ps(x, y); });
      return true;
    case kPow:  // x * x is exactly what pow(x, 2) rounds to
      if (!b.scalar || *b.p != 2.f) return false;
      Loop(a, b, c, dst, n, [](__m256 x, __m256, __m256) { return _mm256_mul_ps(x, x); });
      return true;
    case kMax:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) {
        return NanFirst(x, y, _mm256_blendv_ps(x, y, _mm256_cmp_ps(y, x, _CMP_GT_OQ)));
      });
      return true;
    case kMin:
      Loop(a, b, c, dst, n, [](__m256 x, __m256 y, __m256) {
        return NanFirst(x, y, _mm256_blendv_ps(x, y, _mm256_cmp_ps(y, x, _CMP_LT_OQ)));
      });
      return true;
    default:
      return false;
  }
}

// Whole-program fast paths. A program of a known shape runs in one pass with every intermediate
// in registers: the same operations, in the same order, on the same operands as the loop over
// instructions below, so the results are bit-identical; what goes is a store and a load of the
// block per instruction. The shapes are matched on the code alone (operand roles, not constant
// values): GELU as PyTorch exports it, each optionally after the Add of a MatMul's bias.
enum class Pattern { kNone, kGeluTanh, kGeluErf };

struct Match {
  Pattern pattern = Pattern::kNone;
  bool bias_add = false;  // the program starts with x = a + b
  int x = -1;             // without it: x's operand id
  int add_a = -1, add_b = -1;
  int k[4] = {-1, -1, -1, -1};  // the scalar operands, in program order
};

Match MatchPattern(const EwBlock& block) {
  Match m;
  const EwCode* code = block.code;
  const int f = block.first_result;
  int s = 0;  // the first instruction of the GELU body
  if (block.num_code > 0 && code[0].op == kAdd) {
    m.bias_add = true;
    m.add_a = code[0].a;
    m.add_b = code[0].b;
    m.x = f;
    s = 1;
  }
  const int body = block.num_code - s;
  // Instruction s + j is (op, a, b); an operand -2 is a scalar operand, captured into m.k in order.
  int captured = 0;
  auto operand = [&](int want, int32_t got) {
    if (want != -2) return want == got;
    if (got < 0 || got >= f || !block.values[got].scalar || captured == 4) return false;
    m.k[captured++] = got;
    return true;
  };
  auto is = [&](int j, int32_t op, int a, int b) {
    const EwCode& c = code[s + j];
    return c.op == op && c.c == -1 && operand(a, c.a) && operand(b, c.b);
  };
  // Results of the body: r(j) is instruction s + j's.
  auto r = [&](int j) { return f + s + j; };
  if (!m.bias_add) {
    // x is the body's first operand, a block-sized input.
    if (block.num_code == 0 || code[0].a < 0 || code[0].a >= f) return Match{};
    m.x = code[0].a;
  }
  const int x = m.x;
  // x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))), PyTorch's order:
  // x*x, x*(x*x), k0*(..), x+(..), k1*(..), tanh, k2+(..), x*(..), k3*(..).
  if (body == 9 && is(0, kMul, x, x) && is(1, kMul, x, r(0)) && is(2, kMul, -2, r(1)) &&
      is(3, kAdd, x, r(2)) && is(4, kMul, -2, r(3)) && is(5, kTanh, r(4), -1) &&
      is(6, kAdd, -2, r(5)) && is(7, kMul, x, r(6)) && is(8, kMul, -2, r(7))) {
    m.pattern = Pattern::kGeluTanh;
    return m;
  }
  captured = 0;
  // x * 0.5 * (1 + erf(x / sqrt(2))): x/k0, erf, (..)+k1, x*(..), (..)*k2.
  if (body == 5 && is(0, kDiv, x, -2) && is(1, kErf, r(0), -1) && is(2, kAdd, r(1), -2) &&
      is(3, kMul, x, r(2)) && is(4, kMul, r(3), -2)) {
    m.pattern = Pattern::kGeluErf;
    return m;
  }
  return Match{};
}

template <Pattern P>
inline __m256 Body(__m256 x, const __m256* k) {
  if constexpr (P == Pattern::kGeluTanh) {
    const __m256 x2 = _mm256_mul_ps(x, x);
    const __m256 x3 = _mm256_mul_ps(x, x2);
    // The product rounded on its own, as the loop stores it: never contracted into an FMA.
    __m256 p = _mm256_mul_ps(k[0], x3);
    __asm__("" : "+x"(p));
    const __m256 t = _mm256_mul_ps(k[1], _mm256_add_ps(x, p));
    return _mm256_mul_ps(k[3], _mm256_mul_ps(x, _mm256_add_ps(k[2], Tanh(t))));
  } else {
    const __m256 e = Erf(_mm256_div_ps(x, k[0]));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_add_ps(e, k[1])), k[2]);
  }
}

template <Pattern P>
void RunPattern(const EwBlock& block, const Match& m) {
  __m256 k[4];
  for (int j = 0; j < 4; ++j) {
    k[j] = m.k[j] >= 0 ? _mm256_broadcast_ss(block.values[m.k[j]].p) : _mm256_setzero_ps();
  }
  const int64_t n = block.n;
  float* out = block.out;
  auto x_at = [&](int64_t i) {
    return m.bias_add
               ? _mm256_add_ps(Load(block.values[m.add_a], i), Load(block.values[m.add_b], i))
               : Load(block.values[m.x], i);
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, Body<P>(x_at(i), k));
  if (i < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)), lane);
    const __m256 x = m.bias_add ? _mm256_add_ps(LoadTail(block.values[m.add_a], i, mask),
                                                LoadTail(block.values[m.add_b], i, mask))
                                : LoadTail(block.values[m.x], i, mask);
    _mm256_maskstore_ps(out + i, mask, Body<P>(x, k));
  }
}

}  // namespace

int EwFastPathAvx2(const EwBlock& block) { return int(MatchPattern(block).pattern); }

void RunEwBlockAvx2(EwBlock& block) {
  const Match m = MatchPattern(block);
  if (m.pattern == Pattern::kGeluTanh) return RunPattern<Pattern::kGeluTanh>(block, m);
  if (m.pattern == Pattern::kGeluErf) return RunPattern<Pattern::kGeluErf>(block, m);
  static const float kNone = 0.f;
  const EwOperand none{&kNone, true};
  for (int k = 0; k < block.num_code; ++k) {
    const EwCode& code = block.code[k];
    const bool last = k + 1 == block.num_code;
    float* dst = last ? block.out : block.scratch + k * kEwBlock;
    const EwOperand& a = block.values[code.a];
    const EwOperand& b = code.b >= 0 ? block.values[code.b] : none;
    const EwOperand& c = code.c >= 0 ? block.values[code.c] : none;
    if (!RunVector(code, a, b, c, dst, block.n)) block.scalar_instr(code, a, b, c, dst, block.n);
    block.values[block.first_result + k] = EwOperand{dst, false};
  }
}

}  // namespace refit::cpu::internal
