/* One core's peak: independent chains of the widest FMA the host has (build with
 * -O2 -march=native). Prints the best GFLOP/s of several runs and the vector width.
 * Sixteen chains hide the FMA latency (4-5 cycles) on two FMA pipes with room to spare. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SUM(v) _mm512_reduce_add_ps(v)
#define ISA "avx512"
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float SUM(__m256 v) { float f[8]; _mm256_storeu_ps(f, v); return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7]; }
#define ISA "avx2-fma"
#else
typedef __m128 vec;
#define LANES 4
#define SET1 _mm_set1_ps
#define FMA(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
static float SUM(__m128 v) { float f[4]; _mm_storeu_ps(f, v); return f[0] + f[1] + f[2] + f[3]; }
#define ISA "sse (mul+add)"
#endif

enum { CHAINS = 16 };

/* Sixteen named accumulators, so the compiler keeps each in a register. */
#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

int main(void) {
  vec x = SET1(0.999999f), y = SET1(1e-7f);
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 7; rep++) {
#define INIT(c) vec a##c = SET1((float)c);
    EACH(INIT)
    long iters = 20000000;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
#define STEP(c) a##c = FMA(a##c, x, y);
      EACH(STEP)
    }
    double t = now() - t0;
#define ADD(c) sink += SUM(a##c);
    EACH(ADD)
    double gf = (double)iters * CHAINS * LANES * 2 / t * 1e-9;
    if (gf > best) best = gf;
  }
  printf("peak_gflops=%.2f isa=%s lanes=%d sink=%g\n", best, ISA, LANES, (double)sink);
  return 0;
}
