/* The runtime's random numbers: the generators against their published reference
 * outputs, then the derived distributions against their moments. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "rt.h"

/* splitmix64 seeded with 1234567: the sequence published with the algorithm
 * (Steele, Lea, Flood 2014; the same numbers as Rosetta Code's task). */
Test(rng, splitmix64_reference_outputs) {
  uint64_t s = 1234567;
  const uint64_t want[5] = {6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull,
                            4593380528125082431ull, 16408922859458223821ull};
  for (int i = 0; i < 5; i++) cr_assert_eq(rt_splitmix64(&s), want[i], "output %d", i);
}

/* xoshiro256** from state {1, 2, 3, 4}: rotl(2*5, 7)*9 = 11520, then 0 (s[1] becomes 0),
 * then the reference implementation's next two outputs. */
Test(rng, xoshiro256starstar_reference_outputs) {
  rt_rng r = {.s = {1, 2, 3, 4}};
  const uint64_t want[4] = {11520ull, 0ull, 1509978240ull, 1215971899390074240ull};
  for (int i = 0; i < 4; i++) cr_assert_eq(rt_rng_next(&r), want[i], "output %d", i);
}

Test(rng, same_seed_same_stream_and_different_seeds_differ) {
  rt_rng a, b, c;
  rt_rng_seed(&a, 42);
  rt_rng_seed(&b, 42);
  rt_rng_seed(&c, 43);
  int differ = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = rt_rng_next(&a), y = rt_rng_next(&b), z = rt_rng_next(&c);
    cr_assert_eq(x, y);
    differ += x != z;
  }
  cr_assert_gt(differ, 990);
}

Test(rng, streams_are_independent_of_argument_order) {
  rt_rng a, b, c, d;
  rt_rng_seed_stream(&a, 1, 2);
  rt_rng_seed_stream(&b, 2, 1);
  rt_rng_seed_stream(&c, 1, 3);
  rt_rng_seed_stream(&d, 1, 2);
  uint64_t xa = rt_rng_next(&a), xb = rt_rng_next(&b), xc = rt_rng_next(&c), xd = rt_rng_next(&d);
  cr_assert_neq(xa, xb);
  cr_assert_neq(xa, xc);
  cr_assert_eq(xa, xd);
  cr_assert_neq(rt_stream_id("w"), rt_stream_id("b"));
  cr_assert_eq(rt_stream_id("layer1.w"), rt_stream_id("layer1.w"));
}

Test(rng, uniform_is_in_range_with_uniform_moments_and_buckets) {
  rt_rng r;
  rt_rng_seed(&r, 7);
  enum { N = 1000000, B = 100 };
  static int64_t bucket[B];
  double sum = 0, sum2 = 0;
  for (int i = 0; i < N; i++) {
    double u = rt_rng_uniform(&r);
    cr_assert(u >= 0.0 && u < 1.0);
    sum += u;
    sum2 += u * u;
    bucket[(int)(u * B)]++;
  }
  double mean = sum / N, var = sum2 / N - mean * mean;
  cr_assert_float_eq(mean, 0.5, 0.002);     /* std of the mean: 0.00029 */
  cr_assert_float_eq(var, 1.0 / 12, 0.001); /* std of the variance: about 0.00009 */
  double chi2 = 0, expect = (double)N / B;
  for (int k = 0; k < B; k++) chi2 += (bucket[k] - expect) * (bucket[k] - expect) / expect;
  cr_assert_lt(chi2, 160.0, "chi-square %.1f with 99 degrees of freedom", chi2); /* p ~ 1e-4 */
}

Test(rng, normal_has_standard_moments) {
  rt_rng r;
  rt_rng_seed(&r, 2024);
  enum { N = 1000000 };
  double s1 = 0, s2 = 0, s4 = 0;
  int within1 = 0;
  for (int i = 0; i < N; i++) {
    double z = rt_rng_normal(&r);
    cr_assert(isfinite(z));
    s1 += z;
    s2 += z * z;
    s4 += z * z * z * z;
    within1 += fabs(z) < 1.0;
  }
  cr_assert_float_eq(s1 / N, 0.0, 0.006);
  cr_assert_float_eq(s2 / N, 1.0, 0.01);
  cr_assert_float_eq(s4 / N, 3.0, 0.06);
  cr_assert_float_eq((double)within1 / N, 0.682689, 0.003);
}

Test(rng, below_is_in_range_and_unbiased) {
  rt_rng r;
  rt_rng_seed(&r, 99);
  enum { N = 700000 };
  int64_t count[7] = {0};
  for (int i = 0; i < N; i++) {
    uint64_t k = rt_rng_below(&r, 7);
    cr_assert_lt(k, 7u);
    count[k]++;
  }
  double chi2 = 0, expect = N / 7.0;
  for (int k = 0; k < 7; k++) chi2 += (count[k] - expect) * (count[k] - expect) / expect;
  cr_assert_lt(chi2, 27.0, "chi-square %.1f with 6 degrees of freedom", chi2); /* p ~ 1e-4 */
  cr_assert_eq(rt_rng_below(&r, 1), 0u);
  /* A bound just above 2^63 rejects almost half the outputs: still in range. */
  for (int i = 0; i < 1000; i++) cr_assert_lt(rt_rng_below(&r, (1ull << 63) + 1), (1ull << 63) + 1);
}

Test(rng, shuffle_is_a_uniform_permutation) {
  rt_rng r;
  rt_rng_seed(&r, 5);
  int64_t idx[1000];
  rt_rng_permutation(&r, idx, 1000);
  char seen[1000] = {0};
  int moved = 0;
  for (int i = 0; i < 1000; i++) {
    cr_assert(idx[i] >= 0 && idx[i] < 1000);
    cr_assert_eq(seen[idx[i]], 0, "index %lld twice", (long long)idx[i]);
    seen[idx[i]] = 1;
    moved += idx[i] != i;
  }
  cr_assert_gt(moved, 900);

  /* Each of the 6 orders of 3 elements equally often. */
  enum { N = 60000 };
  int64_t count[6] = {0};
  for (int t = 0; t < N; t++) {
    int64_t p[3] = {0, 1, 2};
    rt_rng_shuffle(&r, p, 3);
    count[p[0] * 2 + (p[1] > p[2])]++;
  }
  double chi2 = 0, expect = N / 6.0;
  for (int k = 0; k < 6; k++) chi2 += (count[k] - expect) * (count[k] - expect) / expect;
  cr_assert_lt(chi2, 25.0, "chi-square %.1f with 5 degrees of freedom", chi2);

  int64_t one = 0;
  rt_rng_shuffle(&r, &one, 1);
  cr_assert_eq(one, 0);
  rt_rng_shuffle(&r, NULL, 0);
}

Test(rng, shuffle_is_deterministic_for_a_seed) {
  rt_rng a, b;
  int64_t x[100], y[100];
  rt_rng_seed_stream(&a, 3, 17);
  rt_rng_seed_stream(&b, 3, 17);
  rt_rng_permutation(&a, x, 100);
  rt_rng_permutation(&b, y, 100);
  cr_assert_arr_eq(x, y, sizeof x);
}
