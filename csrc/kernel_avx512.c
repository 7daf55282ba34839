/*
 * The AVX-512 path: 24 blocks at a time, in three vectors of eight 64-bit
 * lanes.  AVX-512F has all this loop needs on 512-bit registers: native
 * rotates (vprolq), three-input logic (vpternlogq) and 32x32->64 multiplies
 * (vpmuludq).  Three independent generators, as in the loop measured on
 * Zen 5 cores with four 512-bit pipes; on a Xeon with two, 2, 3 and 4 ran
 * within noise of one another.  Mask registers would serve only the last,
 * partial group of a call, which instead copies a block into the spare lanes,
 * as on AVX2.  Block states are hashed by the same scalar code as on every
 * other path.
 */
#include "stream.h"

#if defined(MCPI_X86)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define VECS 3
#define LANES (8 * VECS)

typedef struct {
    __m512i s0, s1, s2, s3;
} xoshiro8;

/* mcpi_next() in eight lanes.  Each new state word is an xor of at most
 * three old ones, so the five xors of the transition become three
 * three-input xors (0x96 is the truth table of a ^ b ^ c) and one xor. */
static inline AVX512 __m512i
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
static inline AVX512 __m512i
outside8(__m512i r)
{
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i tx = _mm512_srli_epi64(r, 33);
    const __m512i ty = _mm512_and_si512(r, _mm512_set1_epi64((long long)MCPI_LOW31));
    const __m512i px = _mm512_mul_epu32(tx, _mm512_add_epi64(tx, one));
    const __m512i py = _mm512_mul_epu32(ty, _mm512_add_epi64(ty, one));
    return _mm512_srli_epi64(_mm512_add_epi64(px, py), 62);
}

static inline AVX512 xoshiro8
load8(uint64_t st[4][LANES], int lane0)
{
    xoshiro8 g;
    g.s0 = _mm512_loadu_si512(&st[0][lane0]);
    g.s1 = _mm512_loadu_si512(&st[1][lane0]);
    g.s2 = _mm512_loadu_si512(&st[2][lane0]);
    g.s3 = _mm512_loadu_si512(&st[3][lane0]);
    return g;
}

AVX512 uint64_t
mcpi_blocks_avx512(const mcpi_key *key, uint64_t first, uint64_t count)
{
    uint64_t hits = 0;
    while (count > 0) {
        const int used = count < LANES ? (int)count : LANES;
        uint64_t st[4][LANES], outside[LANES];
        mcpi_group_states(key, first, (unsigned)used, LANES, &st[0][0]);
        xoshiro8 g[VECS];
        __m512i out[VECS];
        for (int v = 0; v < VECS; v++) {
            g[v] = load8(st, 8 * v);
            out[v] = _mm512_setzero_si512();
        }
        for (unsigned j = 0; j < MCPI_BLOCK; j++) {
            for (int v = 0; v < VECS; v++) {
                out[v] = _mm512_add_epi64(out[v], outside8(next8(&g[v])));
            }
        }
        for (int v = 0; v < VECS; v++) {
            _mm512_storeu_si512(&outside[8 * v], out[v]);
        }
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
AVX512 uint64_t
mcpi_yardstick_avx512(uint64_t n)
{
    uint64_t st[4][LANES], outside[LANES], total = 0;
    mcpi_yardstick_states(LANES, &st[0][0]);
    xoshiro8 g[VECS];
    __m512i out[VECS];
    for (int v = 0; v < VECS; v++) {
        g[v] = load8(st, 8 * v);
        out[v] = _mm512_setzero_si512();
    }
    const uint64_t rounds = (n + LANES - 1) / LANES;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int v = 0; v < VECS; v++) {
            out[v] = _mm512_add_epi64(out[v], outside8(next8(&g[v])));
        }
    }
    for (int v = 0; v < VECS; v++) {
        _mm512_storeu_si512(&outside[8 * v], out[v]);
    }
    for (int l = 0; l < LANES; l++) {
        total += outside[l];
    }
    return rounds * LANES - total;
}

#endif
