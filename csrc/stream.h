/*
 * The canonical point stream, as static inline functions shared by range.c
 * and every kernel, so that each path computes the same bits by construction.
 * The bottom of the core: it calls nothing outside this file.
 */
#ifndef MCPI_STREAM_H
#define MCPI_STREAM_H

#include "mcpi.h"

#define MCPI_GAMMA UINT64_C(0x9e3779b97f4a7c15) /* SplitMix64's increment */

/* SplitMix64's output function (Stafford's Mix13): a bijection of 64 bits
 * with full avalanche. */
static inline uint64_t
mcpi_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Word i of block b's state is mix64(k_i + b * (2i + 1) * GAMMA).  The
 * multipliers are odd, so within one seed no two blocks share a word in the
 * same place. */
static inline void
mcpi_block_state(const mcpi_key *key, uint64_t block, uint64_t s[4])
{
    for (int i = 0; i < 4; i++) {
        s[i] = mcpi_mix64(key->k[i] + block * ((uint64_t)(2 * i + 1) * MCPI_GAMMA));
    }
}

static inline uint64_t
mcpi_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256++ (Blackman and Vigna, 2019): all 64 output bits pass BigCrush
 * and PractRand, so one output makes one point. */
static inline uint64_t
mcpi_next(uint64_t s[4])
{
    const uint64_t result = mcpi_rotl(s[0] + s[3], 23) + s[0];
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mcpi_rotl(s[3], 45);
    return result;
}

/* The point of an output r: cells tx (top 31 bits) and ty (low 31 bits), each
 * in [0, 2^31), with coordinates x = (2tx + 1) / 2^32, y = (2ty + 1) / 2^32.
 * Bits 31 and 32 are not used. */
#define MCPI_LOW31 UINT64_C(0x7fffffff)

static inline uint64_t
mcpi_cell_x(uint64_t r)
{
    return r >> 33;
}

static inline uint64_t
mcpi_cell_y(uint64_t r)
{
    return r & MCPI_LOW31;
}

/* 1 if the point with cells (tx, ty) lies outside the quarter circle.
 * With u = 2t + 1, u^2 = 4t(t + 1) + 1, so u_x^2 + u_y^2 < 2^64 exactly when
 * tx(tx + 1) + ty(ty + 1) < 2^62; both products are below 2^62, so the sum
 * cannot overflow and bit 62 alone decides. */
static inline uint64_t
mcpi_outside(uint64_t r)
{
    const uint64_t tx = mcpi_cell_x(r), ty = mcpi_cell_y(r);
    return (tx * (tx + 1) + ty * (ty + 1)) >> 62;
}

/* The states of a vector kernel's group of `lanes` blocks from `first`, word
 * by word (st[i * lanes + l] is word i of lane l), ready for vector loads.  A
 * last group of `used` < lanes blocks fills the spare lanes with copies of its
 * first block, whose counts the kernel ignores. */
static inline void
mcpi_group_states(const mcpi_key *key, uint64_t first, unsigned used,
                  unsigned lanes, uint64_t *st)
{
    uint64_t s[4];
    for (unsigned l = 0; l < lanes; l++) {
        mcpi_block_state(key, first + (l < used ? l : 0), s);
        for (unsigned i = 0; i < 4; i++) {
            st[i * lanes + l] = s[i];
        }
    }
}

/* The states of a benchmark yardstick: one generator per lane, laid out as
 * above, seeded from SplitMix64's sequence started at 0.  Not the stream. */
static inline void
mcpi_yardstick_states(unsigned lanes, uint64_t *st)
{
    uint64_t seed = 0;
    for (unsigned k = 0; k < 4 * lanes; k++) {
        seed += MCPI_GAMMA;
        st[k] = mcpi_mix64(seed);
    }
}

/* Hits among points [j0, j1) of one block. */
static inline uint64_t
mcpi_count_partial(const mcpi_key *key, uint64_t block, unsigned j0, unsigned j1)
{
    uint64_t s[4], outside = 0;
    mcpi_block_state(key, block, s);
    for (unsigned j = 0; j < j0; j++) {
        mcpi_next(s);
    }
    for (unsigned j = j0; j < j1; j++) {
        outside += mcpi_outside(mcpi_next(s));
    }
    return (j1 - j0) - outside;
}

#endif
