/*
 * The scalar path: portable C, always usable, and the answer every other
 * path's self-test is checked against.  Two blocks advance side by side so
 * that their generator dependency chains overlap.  Four ran slower on x86-64,
 * whose 16 registers cannot hold their 16 state words.
 */
#include "kernels.h"
#include "stream.h"

#define LANES 2

uint64_t
mcpi_blocks_scalar(const mcpi_key *key, uint64_t first, uint64_t count)
{
    uint64_t hits = 0;
    while (count >= LANES) {
        uint64_t s[LANES][4], outside[LANES] = {0};
        for (int l = 0; l < LANES; l++) {
            mcpi_block_state(key, first + l, s[l]);
        }
        for (unsigned j = 0; j < MCPI_BLOCK; j++) {
            for (int l = 0; l < LANES; l++) {
                outside[l] += mcpi_outside(mcpi_next(s[l]));
            }
        }
        for (int l = 0; l < LANES; l++) {
            hits += MCPI_BLOCK - outside[l];
        }
        first += LANES;
        count -= LANES;
    }
    for (; count > 0; first++, count--) {
        hits += mcpi_count_partial(key, first, 0, MCPI_BLOCK);
    }
    return hits;
}
