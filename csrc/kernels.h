/*
 * The kernels, as dispatch.c sees them: each path counts whole blocks, and
 * each vector path also runs a benchmark yardstick.
 */
#ifndef MCPI_KERNELS_H
#define MCPI_KERNELS_H

#include "cpu.h"
#include "mcpi.h"

/* Hits among all points of blocks [first, first + count). */
typedef uint64_t (*mcpi_blocks_fn)(const mcpi_key *key, uint64_t first,
                                   uint64_t count);

/* Hits among the next rounds * lanes points of a yardstick whose generators
 * are st (word i of lane l at st[i * lanes + l]), which it leaves ready for
 * the next call. */
typedef uint64_t (*mcpi_yardstick_fn)(uint64_t *st, uint64_t rounds);

uint64_t mcpi_blocks_scalar(const mcpi_key *key, uint64_t first, uint64_t count);

#if defined(MCPI_X86)
#define MCPI_AVX2_LANES 8    /* blocks per group: two vectors of four */
#define MCPI_AVX512_LANES 24 /* three vectors of eight */

uint64_t mcpi_blocks_avx2(const mcpi_key *key, uint64_t first, uint64_t count);
uint64_t mcpi_yardstick_avx2(uint64_t *st, uint64_t rounds);
uint64_t mcpi_blocks_avx512(const mcpi_key *key, uint64_t first, uint64_t count);
uint64_t mcpi_yardstick_avx512(uint64_t *st, uint64_t rounds);
#endif

#endif
