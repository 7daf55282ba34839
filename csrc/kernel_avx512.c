/*
 * The AVX-512 path: 24 blocks at a time, in three vectors of eight 64-bit
 * lanes.  AVX-512F has all this loop needs on 512-bit registers: native
 * rotates (vprolq), three-input logic (vpternlogq) and 32x32->64 multiplies
 * (vpmuludq).  Three independent generators, as in the loop measured on
 * Zen 5 cores with four 512-bit pipes; on a Xeon with two, 2, 3 and 4 ran
 * within noise of one another.  Block states are hashed by the same scalar
 * code as on every other path; a last group of fewer blocks than lanes fills
 * the spare lanes with copies, as on AVX2, where mask registers would serve
 * that group alone.
 */
#include "kernels.h"
#include "stream.h"

#if defined(MCPI_X86)
#include <immintrin.h>

#define TARGET MCPI_TARGET("avx512f")
#define WIDTH 8 /* 64-bit lanes per vector */
#define LANES MCPI_AVX512_LANES
#define VECS (LANES / WIDTH)

typedef struct {
    __m512i s0, s1, s2, s3;
} xoshiro8;

/* mcpi_next() in eight lanes.  Each new state word is an xor of at most
 * three old ones, so the five xors of the transition become three
 * three-input xors (0x96 is the truth table of a ^ b ^ c) and one xor. */
static inline TARGET __m512i
next8(xoshiro8 *g)
{
    const __m512i s0 = g->s0, s1 = g->s1, s2 = g->s2, s3 = g->s3;
    g->s0 = _mm512_ternarylogic_epi64(s0, s3, s1, 0x96);
    g->s1 = _mm512_ternarylogic_epi64(s1, s2, s0, 0x96);
    g->s2 = _mm512_ternarylogic_epi64(s2, s0, _mm512_slli_epi64(s1, 17), 0x96);
    g->s3 = _mm512_rol_epi64(_mm512_xor_si512(s3, s1), 45);
    return _mm512_add_epi64(_mm512_rol_epi64(_mm512_add_epi64(s0, s3), 23), s0);
}

/* mcpi_outside() in eight lanes; _mm512_mul_epu32 multiplies the low 32 bits
 * of each lane, which hold all of t (31 bits) and of t + 1 (at most 2^31). */
static inline TARGET __m512i
outside8(__m512i r)
{
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i tx = _mm512_srli_epi64(r, 33);
    const __m512i ty = _mm512_and_si512(r, _mm512_set1_epi64((long long)MCPI_LOW31));
    const __m512i px = _mm512_mul_epu32(tx, _mm512_add_epi64(tx, one));
    const __m512i py = _mm512_mul_epu32(ty, _mm512_add_epi64(ty, one));
    return _mm512_srli_epi64(_mm512_add_epi64(px, py), 62);
}

/* The generator of lanes [lane0, lane0 + WIDTH) of st (word i of lane l at
 * st[i * LANES + l]), and back. */
static inline TARGET xoshiro8
load8(const uint64_t *st, int lane0)
{
    xoshiro8 g;
    g.s0 = _mm512_loadu_si512(&st[0 * LANES + lane0]);
    g.s1 = _mm512_loadu_si512(&st[1 * LANES + lane0]);
    g.s2 = _mm512_loadu_si512(&st[2 * LANES + lane0]);
    g.s3 = _mm512_loadu_si512(&st[3 * LANES + lane0]);
    return g;
}

static inline TARGET void
store8(uint64_t *st, int lane0, const xoshiro8 *g)
{
    _mm512_storeu_si512(&st[0 * LANES + lane0], g->s0);
    _mm512_storeu_si512(&st[1 * LANES + lane0], g->s1);
    _mm512_storeu_si512(&st[2 * LANES + lane0], g->s2);
    _mm512_storeu_si512(&st[3 * LANES + lane0], g->s3);
}

/* Runs the LANES generators of st for `rounds` outputs each, writes each
 * lane's count of points outside to outside[], and leaves st at the next
 * output.  The kernel and the yardstick both run this loop. */
static inline TARGET void
run_lanes(uint64_t *st, uint64_t rounds, uint64_t outside[LANES])
{
    xoshiro8 g[VECS];
    __m512i out[VECS];
    for (int v = 0; v < VECS; v++) {
        g[v] = load8(st, WIDTH * v);
        out[v] = _mm512_setzero_si512();
    }
    for (uint64_t r = 0; r < rounds; r++) {
        for (int v = 0; v < VECS; v++) {
            out[v] = _mm512_add_epi64(out[v], outside8(next8(&g[v])));
        }
    }
    for (int v = 0; v < VECS; v++) {
        store8(st, WIDTH * v, &g[v]);
        _mm512_storeu_si512(&outside[WIDTH * v], out[v]);
    }
}

TARGET uint64_t
mcpi_blocks_avx512(const mcpi_key *key, uint64_t first, uint64_t count)
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
mcpi_yardstick_avx512(uint64_t *st, uint64_t rounds)
{
    uint64_t outside[LANES], total = 0;
    run_lanes(st, rounds, outside);
    for (int l = 0; l < LANES; l++) {
        total += outside[l];
    }
    return rounds * LANES - total;
}

#endif
