/*
 * What range.c needs from dispatch.c.
 */
#ifndef MCPI_DISPATCH_H
#define MCPI_DISPATCH_H

#include "mcpi.h"

/* Hits among all points of blocks [first, first + count), on the active
 * path's kernel. */
uint64_t mcpi_count_blocks(const mcpi_key *key, uint64_t first, uint64_t count);

#endif
