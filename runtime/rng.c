/* Seeded random numbers: xoshiro256** (Blackman and Vigna), seeded through splitmix64
 * as its authors recommend. Integer arithmetic only, so a seed gives the same stream on
 * every platform; streams for (seed, stream id) pairs are decorrelated by hashing both
 * through splitmix64, so each parameter (or rank) gets its own sequence. */
#include <math.h>

#include "rt.h"

uint64_t rt_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void seed_from(rt_rng *rng, uint64_t sm) {
  for (int i = 0; i < 4; i++) rng->s[i] = rt_splitmix64(&sm);
  /* The all-zero state is xoshiro's one fixed point; splitmix64 is a bijection of
   * distinct counters, so four zeros cannot come out, but be explicit. */
  if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
  rng->has_spare = 0;
  rng->spare = 0.0;
}

void rt_rng_seed(rt_rng *rng, uint64_t seed) { seed_from(rng, seed); }

void rt_rng_seed_stream(rt_rng *rng, uint64_t seed, uint64_t stream) {
  /* Mix the stream id before combining it, so that nearby (seed, stream) pairs such as
   * (1, 2) and (2, 1) land far apart. */
  uint64_t t = stream ^ 0xd1b54a32d192ed03ull;
  uint64_t key = rt_splitmix64(&t);
  t = seed ^ key;
  seed_from(rng, rt_splitmix64(&t));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rt_rng_next(rt_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rt_rng_uniform(rt_rng *rng) { return (double)(rt_rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t rt_rng_below(rt_rng *rng, uint64_t n) {
  /* Reject the lowest (2^64 mod n) values so every residue is equally likely. */
  uint64_t threshold = (0 - n) % n;
  for (;;) {
    uint64_t r = rt_rng_next(rng);
    if (r >= threshold) return r % n;
  }
}

double rt_rng_normal(rt_rng *rng) {
  if (rng->has_spare) {
    rng->has_spare = 0;
    return rng->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * rt_rng_uniform(rng) - 1.0;
    v = 2.0 * rt_rng_uniform(rng) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  rng->spare = v * f;
  rng->has_spare = 1;
  return u * f;
}

void rt_rng_shuffle(rt_rng *rng, int64_t *idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rt_rng_below(rng, (uint64_t)i + 1);
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

void rt_rng_permutation(rt_rng *rng, int64_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; i++) idx[i] = i;
  rt_rng_shuffle(rng, idx, n);
}

uint64_t rt_stream_id(const char *name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ull;
  }
  return h;
}
