/*
 * The AVX2 path: eight blocks at a time, in two vectors of four 64-bit lanes,
 * so that two independent generator dependency chains fill the pipeline.
 * Block states are hashed by the same scalar code as on every other path.
 */
#include "stream.h"

#if defined(MCPI_X86)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define LANES 8

typedef struct {
    __m256i s0, s1, s2, s3;
} xoshiro4;

static inline AVX2 __m256i
rotl4(__m256i x, int k)
{
    return _mm256_or_si256(_mm256_slli_epi64(x, k), _mm256_srli_epi64(x, 64 - k));
}

/* mcpi_next() in four lanes. */
static inline AVX2 __m256i
next4(xoshiro4 *g)
{
    const __m256i result = _mm256_add_epi64(
        rotl4(_mm256_add_epi64(g->s0, g->s3), 23), g->s0);
    const __m256i t = _mm256_slli_epi64(g->s1, 17);
    g->s2 = _mm256_xor_si256(g->s2, g->s0);
    g->s3 = _mm256_xor_si256(g->s3, g->s1);
    g->s1 = _mm256_xor_si256(g->s1, g->s2);
    g->s0 = _mm256_xor_si256(g->s0, g->s3);
    g->s2 = _mm256_xor_si256(g->s2, t);
    g->s3 = rotl4(g->s3, 45);
    return result;
}

/* mcpi_outside() in four lanes; _mm256_mul_epu32 multiplies the low 32 bits
 * of each lane, which hold all of t (31 bits) and of t + 1 (at most 2^31). */
static inline AVX2 __m256i
outside4(__m256i r)
{
    const __m256i one = _mm256_set1_epi64x(1);
    const __m256i tx = _mm256_srli_epi64(r, 33);
    const __m256i ty = _mm256_and_si256(r, _mm256_set1_epi64x((long long)MCPI_LOW31));
    const __m256i px = _mm256_mul_epu32(tx, _mm256_add_epi64(tx, one));
    const __m256i py = _mm256_mul_epu32(ty, _mm256_add_epi64(ty, one));
    return _mm256_srli_epi64(_mm256_add_epi64(px, py), 62);
}

static inline AVX2 xoshiro4
load4(uint64_t st[4][LANES], int lane0)
{
    xoshiro4 g;
    g.s0 = _mm256_loadu_si256((const __m256i *)&st[0][lane0]);
    g.s1 = _mm256_loadu_si256((const __m256i *)&st[1][lane0]);
    g.s2 = _mm256_loadu_si256((const __m256i *)&st[2][lane0]);
    g.s3 = _mm256_loadu_si256((const __m256i *)&st[3][lane0]);
    return g;
}

/* The eight lane totals of two count vectors. */
static inline AVX2 void
store8(uint64_t out[LANES], __m256i a, __m256i b)
{
    _mm256_storeu_si256((__m256i *)&out[0], a);
    _mm256_storeu_si256((__m256i *)&out[4], b);
}

AVX2 uint64_t
mcpi_blocks_avx2(const mcpi_key *key, uint64_t first, uint64_t count)
{
    uint64_t hits = 0;
    while (count > 0) {
        const int used = count < LANES ? (int)count : LANES;
        uint64_t st[4][LANES], outside[LANES];
        mcpi_group_states(key, first, (unsigned)used, LANES, &st[0][0]);
        xoshiro4 a = load4(st, 0), b = load4(st, 4);
        __m256i out_a = _mm256_setzero_si256(), out_b = _mm256_setzero_si256();
        for (unsigned j = 0; j < MCPI_BLOCK; j++) {
            out_a = _mm256_add_epi64(out_a, outside4(next4(&a)));
            out_b = _mm256_add_epi64(out_b, outside4(next4(&b)));
        }
        store8(outside, out_a, out_b);
        for (int l = 0; l < used; l++) {
            hits += MCPI_BLOCK - outside[l];
        }
        first += (uint64_t)used;
        count -= (uint64_t)used;
    }
    return hits;
}

/* The benchmark's yardstick for this path: the same generator, cells and
 * test in the same lanes, with one state per lane seeded once and no blocks.
 * n is rounded up to a multiple of LANES. */
AVX2 uint64_t
mcpi_yardstick_avx2(uint64_t n)
{
    uint64_t st[4][LANES], outside[LANES], total = 0;
    mcpi_yardstick_states(LANES, &st[0][0]);
    xoshiro4 a = load4(st, 0), b = load4(st, 4);
    __m256i out_a = _mm256_setzero_si256(), out_b = _mm256_setzero_si256();
    const uint64_t rounds = (n + LANES - 1) / LANES;
    for (uint64_t r = 0; r < rounds; r++) {
        out_a = _mm256_add_epi64(out_a, outside4(next4(&a)));
        out_b = _mm256_add_epi64(out_b, outside4(next4(&b)));
    }
    store8(outside, out_a, out_b);
    for (int l = 0; l < LANES; l++) {
        total += outside[l];
    }
    return rounds * LANES - total;
}

#endif
