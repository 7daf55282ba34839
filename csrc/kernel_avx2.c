/*
 * The AVX2 path: eight blocks at a time, in two vectors of four 64-bit lanes,
 * so that two independent generator dependency chains fill the pipeline.
 * AVX2 has no rotate, so rotates are made of two shifts and an or.  Block
 * states are hashed by the same scalar code as on every other path; a last
 * group of fewer blocks than lanes fills the spare lanes with copies.
 */
#include "kernels.h"
#include "stream.h"

#if defined(MCPI_X86)
#include <immintrin.h>

#define TARGET MCPI_TARGET("avx2")
#define WIDTH 4 /* 64-bit lanes per vector */
#define LANES MCPI_AVX2_LANES
#define VECS (LANES / WIDTH)

typedef struct {
    __m256i s0, s1, s2, s3;
} xoshiro4;

/* mcpi_rotl() in four lanes.  A macro, so that k reaches the shifts as the
 * constant their immediate operand takes. */
#define ROTL4(x, k)                                                           \
    _mm256_or_si256(_mm256_slli_epi64((x), (k)), _mm256_srli_epi64((x), 64 - (k)))

/* mcpi_next() in four lanes. */
static inline TARGET __m256i
next4(xoshiro4 *g)
{
    const __m256i sum = _mm256_add_epi64(g->s0, g->s3);
    const __m256i result = _mm256_add_epi64(ROTL4(sum, 23), g->s0);
    const __m256i t = _mm256_slli_epi64(g->s1, 17);
    g->s2 = _mm256_xor_si256(g->s2, g->s0);
    g->s3 = _mm256_xor_si256(g->s3, g->s1);
    g->s1 = _mm256_xor_si256(g->s1, g->s2);
    g->s0 = _mm256_xor_si256(g->s0, g->s3);
    g->s2 = _mm256_xor_si256(g->s2, t);
    g->s3 = ROTL4(g->s3, 45);
    return result;
}

/* mcpi_outside() in four lanes; _mm256_mul_epu32 multiplies the low 32 bits
 * of each lane, which hold all of t (31 bits) and of t + 1 (at most 2^31). */
static inline TARGET __m256i
outside4(__m256i r)
{
    const __m256i one = _mm256_set1_epi64x(1);
    const __m256i tx = _mm256_srli_epi64(r, 33);
    const __m256i ty = _mm256_and_si256(r, _mm256_set1_epi64x((long long)MCPI_LOW31));
    const __m256i px = _mm256_mul_epu32(tx, _mm256_add_epi64(tx, one));
    const __m256i py = _mm256_mul_epu32(ty, _mm256_add_epi64(ty, one));
    return _mm256_srli_epi64(_mm256_add_epi64(px, py), 62);
}

/* The generator of lanes [lane0, lane0 + WIDTH) of st (word i of lane l at
 * st[i * LANES + l]), and back. */
static inline TARGET xoshiro4
load4(const uint64_t *st, int lane0)
{
    xoshiro4 g;
    g.s0 = _mm256_loadu_si256((const __m256i *)&st[0 * LANES + lane0]);
    g.s1 = _mm256_loadu_si256((const __m256i *)&st[1 * LANES + lane0]);
    g.s2 = _mm256_loadu_si256((const __m256i *)&st[2 * LANES + lane0]);
    g.s3 = _mm256_loadu_si256((const __m256i *)&st[3 * LANES + lane0]);
    return g;
}

static inline TARGET void
store4(uint64_t *st, int lane0, const xoshiro4 *g)
{
    _mm256_storeu_si256((__m256i *)&st[0 * LANES + lane0], g->s0);
    _mm256_storeu_si256((__m256i *)&st[1 * LANES + lane0], g->s1);
    _mm256_storeu_si256((__m256i *)&st[2 * LANES + lane0], g->s2);
    _mm256_storeu_si256((__m256i *)&st[3 * LANES + lane0], g->s3);
}

/* Runs the LANES generators of st for `rounds` outputs each, writes each
 * lane's count of points outside to outside[], and leaves st at the next
 * output.  The kernel and the yardstick both run this loop. */
static inline TARGET void
run_lanes(uint64_t *st, uint64_t rounds, uint64_t outside[LANES])
{
    xoshiro4 g[VECS];
    __m256i out[VECS];
    for (int v = 0; v < VECS; v++) {
        g[v] = load4(st, WIDTH * v);
        out[v] = _mm256_setzero_si256();
    }
    for (uint64_t r = 0; r < rounds; r++) {
        for (int v = 0; v < VECS; v++) {
            out[v] = _mm256_add_epi64(out[v], outside4(next4(&g[v])));
        }
    }
    for (int v = 0; v < VECS; v++) {
        store4(st, WIDTH * v, &g[v]);
        _mm256_storeu_si256((__m256i *)&outside[WIDTH * v], out[v]);
    }
}

TARGET uint64_t
mcpi_blocks_avx2(const mcpi_key *key, uint64_t first, uint64_t count)
{
    uint64_t hits = 0;
    while (count > 0) {
        const unsigned used = count < LANES ? (unsigned)count : LANES;
        uint64_t st[4 * LANES], outside[LANES];
        mcpi_group_states(key, first, used, LANES, st);
        run_lanes(st, MCPI_BLOCK, outside);
        for (unsigned l = 0; l < used; l++) {
            hits += MCPI_BLOCK - outside[l];
        }
        first += used;
        count -= used;
    }
    return hits;
}

TARGET uint64_t
mcpi_yardstick_avx2(uint64_t *st, uint64_t rounds)
{
    uint64_t outside[LANES], total = 0;
    run_lanes(st, rounds, outside);
    for (int l = 0; l < LANES; l++) {
        total += outside[l];
    }
    return rounds * LANES - total;
}

#endif
