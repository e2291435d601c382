/* exp and log of f32 and f64 values as plain LLVM arithmetic, for scalars and vectors alike.
 * LLVM lowers its llvm.exp and llvm.log intrinsics to one libm call per element, which
 * keeps every loop that needs them scalar (most of a softmax's time went into expf). These
 * are straight-line code with no calls and no branches, so the loop vectoriser widens them
 * like any other arithmetic, and a vector emitter can call them on vectors directly.
 *
 * exp: x = n ln2 + r with |r| <= ln2/2 (n by rounding x log2 e, r by Cody-Waite with a two-part
 * ln2), e^r by a polynomial (Cephes' minimax one for f32, the Taylor series to r^13 for f64),
 * times 2^n built in the exponent bits, in two halves so that 2^n below the normal range
 * (subnormal results) and 2^128 (f32) are reached without an intermediate overflow.
 * log: x = m 2^k with m in [sqrt(1/2), sqrt(2)), then fdlibm's log(1 + f) = 2s + s R(s^2)
 * with s = f / (2 + f). Both are within about one ulp of the C library (tests/unit/test_be_math.c). */
#include <math.h>

#include "be_internal.h"

static const double LOG2E = 1.44269504088896340736;

/* The constants of one floating-point format. */
typedef struct {
  int mant_bits, bias;
  double exp_lo, exp_hi;      /* inputs clamped to these: beyond them e^x is 0 or inf anyway */
  double round_magic;         /* 1.5 * 2^mant_bits: adding it rounds to an integer */
  double ln2_hi, ln2_lo;      /* ln2_hi has trailing zero bits, so n * ln2_hi is exact */
  int exp_ncoef;
  double exp_coef[12];        /* e^r = 1 + r + r^2 * (c[0] + c[1] r + ...) */
  double log_ln2_hi, log_ln2_lo;
  int log_ncoef;
  double log_coef[7];         /* R(z) = z * (c[0] + c[1] z + ...), z = s^2 */
  unsigned long long sqrt_half_bits; /* the bits of (nearly) sqrt(1/2) */
  double subnormal_scale;     /* 2^(mant_bits + 2): brings a subnormal input into range */
} math_format;

static const math_format f32_format = {
    .mant_bits = 23,
    .bias = 127,
    .exp_lo = -104.0,
    .exp_hi = 89.0,
    .round_magic = 12582912.0,
    .ln2_hi = 0.693359375,
    .ln2_lo = -2.12194440e-4,
    .exp_ncoef = 6,
    .exp_coef = {5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3,
                 1.3981999507e-3, 1.9875691500e-4},
    .log_ln2_hi = 6.9313812256e-01,
    .log_ln2_lo = 9.0580006145e-06,
    .log_ncoef = 4,
    .log_coef = {0.66666662693, 0.40000972152, 0.28498786688, 0.24279078841},
    .sqrt_half_bits = 0x3f3504f3ull,
    .subnormal_scale = 33554432.0,
};

static const math_format f64_format = {
    .mant_bits = 52,
    .bias = 1023,
    .exp_lo = -746.0,
    .exp_hi = 710.0,
    .round_magic = 6755399441055744.0,
    .ln2_hi = 6.93147180369123816490e-01,
    .ln2_lo = 1.90821492927058770002e-10,
    .exp_ncoef = 12,
    .exp_coef = {1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
                 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                 1.0 / 6227020800},
    .log_ln2_hi = 6.93147180369123816490e-01,
    .log_ln2_lo = 1.90821492927058770002e-10,
    .log_ncoef = 7,
    .log_coef = {6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
                 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
                 1.479819860511658591e-01},
    .sqrt_half_bits = 0x3fe6a09e00000000ull,
    .subnormal_scale = 18014398509481984.0,
};

/* The types of one computation: float and same-width integer, scalar or vector. */
typedef struct {
  be_ctx *c;
  const math_format *fmt;
  LLVMTypeRef ft, it;
  unsigned lanes;   /* 0 for scalars */
} math_types;

static math_types types_of(be_ctx *c, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  unsigned lanes = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetVectorSize(t) : 0;
  LLVMTypeRef el = lanes ? LLVMGetElementType(t) : t;
  bool f64 = LLVMGetTypeKind(el) == LLVMDoubleTypeKind;
  IR_ASSERT(f64 || LLVMGetTypeKind(el) == LLVMFloatTypeKind);
  LLVMTypeRef iel = f64 ? c->i64 : c->i32;
  return (math_types){c, f64 ? &f64_format : &f32_format, t, lanes ? LLVMVectorType(iel, lanes) : iel,
                      lanes};
}

static LLVMValueRef splat(const math_types *m, LLVMValueRef s) {
  if (!m->lanes) return s;
  LLVMValueRef v[m->lanes];
  for (unsigned i = 0; i < m->lanes; i++) v[i] = s;
  return LLVMConstVector(v, m->lanes);
}
static LLVMValueRef fc(const math_types *m, double v) {
  return splat(m, LLVMConstReal(m->lanes ? LLVMGetElementType(m->ft) : m->ft, v));
}
static LLVMValueRef ic(const math_types *m, unsigned long long v) {
  return splat(m, LLVMConstInt(m->lanes ? LLVMGetElementType(m->it) : m->it, v, 0));
}

/* a * b + c, fused where the target has FMA. */
static LLVMValueRef mad(const math_types *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return be_intrinsic(m->c, "llvm.fmuladd", m->ft, args, 3);
}
static LLVMValueRef m_mul(const math_types *m, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFMul(m->c->b, a, b, "");
}
static LLVMValueRef m_add(const math_types *m, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(m->c->b, a, b, "");
}
static LLVMValueRef m_sub(const math_types *m, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFSub(m->c->b, a, b, "");
}
static LLVMValueRef to_int(const math_types *m, LLVMValueRef v) { return LLVMBuildBitCast(m->c->b, v, m->it, ""); }
static LLVMValueRef to_float(const math_types *m, LLVMValueRef v) { return LLVMBuildBitCast(m->c->b, v, m->ft, ""); }

/* pred(x, k) ? x : k, the form x86's min/max instructions take directly (NaN gives k). */
static LLVMValueRef clamp_side(const math_types *m, LLVMRealPredicate pred, LLVMValueRef x, double k) {
  LLVMValueRef kv = fc(m, k);
  return LLVMBuildSelect(m->c->b, LLVMBuildFCmp(m->c->b, pred, x, kv, ""), x, kv, "");
}

/* c[0] + c[1] r + ... + c[n-1] r^(n-1) by Horner's rule. */
static LLVMValueRef horner(const math_types *m, const double *coef, int n, LLVMValueRef r) {
  LLVMValueRef p = fc(m, coef[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = mad(m, p, r, fc(m, coef[i]));
  return p;
}

/* 2^n for an integer n whose exponent field fits: (n + bias) << mant_bits. */
static LLVMValueRef pow2(const math_types *m, LLVMValueRef n) {
  LLVMBuilderRef b = m->c->b;
  LLVMValueRef e = LLVMBuildAdd(b, n, ic(m, (unsigned long long)m->fmt->bias), "");
  return to_float(m, LLVMBuildShl(b, e, ic(m, (unsigned long long)m->fmt->mant_bits), ""));
}

LLVMValueRef be_exp(be_ctx *c, LLVMValueRef x) {
  math_types m = types_of(c, x);
  const math_format *f = m.fmt;
  LLVMBuilderRef b = c->b;
  LLVMValueRef xc = clamp_side(&m, LLVMRealOGT, clamp_side(&m, LLVMRealOLT, x, f->exp_hi), f->exp_lo);
  /* n = round(x log2 e): the sum's low mantissa bits hold n (round to nearest even). */
  LLVMValueRef magic = fc(&m, f->round_magic);
  LLVMValueRef shifted = mad(&m, xc, fc(&m, LOG2E), magic);
  LLVMValueRef nf = m_sub(&m, shifted, magic);
  LLVMValueRef n = LLVMBuildSub(b, to_int(&m, shifted), to_int(&m, magic), "");
  LLVMValueRef r = mad(&m, nf, fc(&m, -f->ln2_hi), xc);
  r = mad(&m, nf, fc(&m, -f->ln2_lo), r);
  /* e^r = 1 + r + r^2 P(r) */
  LLVMValueRef p = horner(&m, f->exp_coef, f->exp_ncoef, r);
  LLVMValueRef er = m_add(&m, mad(&m, p, m_mul(&m, r, r), r), fc(&m, 1));
  /* times 2^n1 2^n2, n1 = floor(n/2): each half keeps a normal exponent over the clamped range */
  LLVMValueRef n1 = LLVMBuildAShr(b, n, ic(&m, 1), "");
  LLVMValueRef n2 = LLVMBuildSub(b, n, n1, "");
  LLVMValueRef y = m_mul(&m, m_mul(&m, er, pow2(&m, n1)), pow2(&m, n2));
  /* NaN in, NaN out (the clamp turned it into a number). */
  LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
  return LLVMBuildSelect(b, nan, x, y, "");
}

LLVMValueRef be_log(be_ctx *c, LLVMValueRef x) {
  math_types m = types_of(c, x);
  const math_format *f = m.fmt;
  LLVMBuilderRef b = c->b;
  /* A subnormal x is scaled into the normal range; its k is corrected below. */
  LLVMValueRef tiny = LLVMBuildFCmp(b, LLVMRealOLT, x, fc(&m, ldexp(1.0, 1 - f->bias)), "");
  LLVMValueRef xs = LLVMBuildSelect(b, tiny, m_mul(&m, x, fc(&m, f->subnormal_scale)), x, "");
  LLVMValueRef kadj = LLVMBuildSelect(b, tiny, ic(&m, (unsigned long long)(f->mant_bits + 2)), ic(&m, 0), "");
  /* x = mm 2^k, mm in [sqrt(1/2), sqrt(2)): moving the mantissa's origin to sqrt(1/2) makes
   * the exponent field k directly. */
  unsigned long long one = (unsigned long long)f->bias << f->mant_bits;
  unsigned long long mant_mask = (1ull << f->mant_bits) - 1;
  LLVMValueRef ix = LLVMBuildAdd(b, to_int(&m, xs), ic(&m, one - f->sqrt_half_bits), "");
  LLVMValueRef k = LLVMBuildLShr(b, ix, ic(&m, (unsigned long long)f->mant_bits), "");
  k = LLVMBuildSub(b, LLVMBuildSub(b, k, ic(&m, (unsigned long long)f->bias), ""), kadj, "");
  ix = LLVMBuildAdd(b, LLVMBuildAnd(b, ix, ic(&m, mant_mask), ""), ic(&m, f->sqrt_half_bits), "");
  /* log(1 + fr) = fr - fr^2/2 + s (fr^2/2 + R(s^2)), s = fr / (2 + fr) */
  LLVMValueRef fr = m_sub(&m, to_float(&m, ix), fc(&m, 1));
  LLVMValueRef s = LLVMBuildFDiv(b, fr, m_add(&m, fr, fc(&m, 2)), "");
  LLVMValueRef z = m_mul(&m, s, s);
  LLVMValueRef r = m_mul(&m, z, horner(&m, f->log_coef, f->log_ncoef, z));
  LLVMValueRef hfsq = m_mul(&m, m_mul(&m, fc(&m, 0.5), fr), fr);
  LLVMValueRef dk = LLVMBuildSIToFP(b, k, m.ft, "");
  LLVMValueRef y = mad(&m, dk, fc(&m, f->log_ln2_lo), m_mul(&m, s, m_add(&m, hfsq, r)));
  y = mad(&m, dk, fc(&m, f->log_ln2_hi), m_add(&m, m_sub(&m, y, hfsq), fr));
  /* The edges: log(0) = -inf, log(negative) = NaN, log(inf) = inf, NaN stays NaN. */
  LLVMValueRef zero = fc(&m, 0), inf = fc(&m, INFINITY);
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, inf, ""), inf, y, "");
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""), fc(&m, NAN), y, "");
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, zero, ""), fc(&m, -INFINITY), y, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
}
