/*
 * Keys and ranges: a range of points is split into partial blocks, counted
 * here, and whole blocks, counted by the active path's kernel (dispatch.c).
 * Point sampling is here too: it needs no kernel.
 */
#include "dispatch.h"
#include "stream.h"

void
mcpi_key_init(mcpi_key *key, uint64_t seed)
{
    /* The first four outputs of SplitMix64 started at seed. */
    for (int i = 0; i < 4; i++) {
        key->k[i] = mcpi_mix64(seed + (uint64_t)(i + 1) * MCPI_GAMMA);
    }
}

uint64_t
mcpi_count_range(const mcpi_key *key, uint64_t start, uint64_t n)
{
    if (n == 0) {
        return 0;
    }
    /* Work with the last index: start + n may be exactly 2^64. */
    const uint64_t last = start + (n - 1);
    uint64_t b0 = start / MCPI_BLOCK, b1 = last / MCPI_BLOCK;
    const unsigned j0 = (unsigned)(start % MCPI_BLOCK);
    const unsigned j1 = (unsigned)(last % MCPI_BLOCK) + 1;
    if (b0 == b1) {
        return mcpi_count_partial(key, b0, j0, j1);
    }
    uint64_t hits = 0;
    if (j0 != 0) {
        hits += mcpi_count_partial(key, b0, j0, MCPI_BLOCK);
        b0++;
    }
    if (j1 != MCPI_BLOCK) {
        hits += mcpi_count_partial(key, b1, 0, j1);
    }
    else {
        b1++; /* the last block is whole (b1 < 2^56, so no wrap) */
    }
    return hits + mcpi_count_blocks(key, b0, b1 - b0);
}

void
mcpi_sample_range(const mcpi_key *key, uint64_t start, uint64_t n, double *xy)
{
    const double scale = 1.0 / 4294967296.0; /* 2^-32: (2t + 1) * scale is exact */
    uint64_t block = start / MCPI_BLOCK;
    unsigned j = (unsigned)(start % MCPI_BLOCK);
    uint64_t s[4];
    mcpi_block_state(key, block, s);
    for (unsigned i = 0; i < j; i++) {
        mcpi_next(s);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (j == MCPI_BLOCK) {
            mcpi_block_state(key, ++block, s);
            j = 0;
        }
        const uint64_t r = mcpi_next(s);
        xy[2 * i] = (double)(2 * mcpi_cell_x(r) + 1) * scale;
        xy[2 * i + 1] = (double)(2 * mcpi_cell_y(r) + 1) * scale;
        j++;
    }
}
