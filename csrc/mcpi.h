/*
 * pymcpi core: the canonical point stream, the hit-counting kernels and the
 * CPU dispatch.  Plain C99; nothing here knows about Python.
 *
 * The stream: point i of seed s is the (i mod MCPI_BLOCK)-th point of block
 * i / MCPI_BLOCK.  Every block runs its own xoshiro256++ generator whose
 * state is hashed from (s, block), so any range of points can be counted
 * without generating the points before it.  Point j of a block is the block's
 * j-th output: its top and low 31 bits pick the cells of x and y, each
 * coordinate is the centre (2t + 1) / 2^32 of its cell, and the inside test
 * x^2 + y^2 < 1 is done exactly in integers.
 */
#ifndef MCPI_H
#define MCPI_H

#include <stddef.h>
#include <stdint.h>

#define MCPI_BLOCK 256u /* points per block; part of the stream definition */

/* The four per-seed words every block state is hashed from. */
typedef struct {
    uint64_t k[4];
} mcpi_key;

void mcpi_key_init(mcpi_key *key, uint64_t seed);

/* Hits among points [start, start + n) of the stream; start + n <= 2^64.
 * Runs on the active path and uses O(1) memory. */
uint64_t mcpi_count_range(const mcpi_key *key, uint64_t start, uint64_t n);

/* Writes points [start, start + n) as n (x, y) pairs of doubles into xy. */
void mcpi_sample_range(const mcpi_key *key, uint64_t start, uint64_t n,
                       double *xy);

/* Rows (x, y) with x^2 + y^2 < 1, decided exactly for every finite input;
 * NaN and infinities are never inside.  Coordinates are doubles, or floats if
 * single is non-zero; strides are in bytes. */
uint64_t mcpi_count_inside(const char *base, size_t rows, ptrdiff_t row_stride,
                           ptrdiff_t col_stride, int single);

/* SIMD paths.  Index 0 is "scalar", the portable path, always usable.  A
 * vector path is usable where the CPU and the OS support it and its kernel
 * passed the self-test: giving the scalar kernel's answers on a few blocks at
 * fixed places, checked once, before the path is first used. */
enum {
    MCPI_PATH_UNSUPPORTED = 1, /* the CPU or the OS cannot run it */
    MCPI_PATH_FAILED = 2,      /* supported, but failed its self-test */
    MCPI_PATH_USABLE = 3
};

int mcpi_path_count(void);
const char *mcpi_path_name(int path);
/* Returns the path's index, or -1 if the name is unknown. */
int mcpi_path_find(const char *name);
/* An MCPI_PATH_* value; the first call for a path runs its self-test. */
int mcpi_path_status(int path);
/* Makes a path active if it is usable; returns its status either way. */
int mcpi_path_select(int path);
int mcpi_path_active(void);
/* The fastest usable path, which is active until one is selected. */
int mcpi_path_best(void);

/* Runs a supported path's self-test again and returns 1 if it passes: for
 * timing it, and for checking the scalar path, which is never refused. */
int mcpi_path_self_test(int path);

/* Benchmark yardstick of a vector path: a plain loop of the same generator,
 * cells and exact test on the path's instruction set, one output per point,
 * one generator per lane, no blocks.  Not part of the stream.  Its generators
 * carry over from call to call, so that a long run can be cut into slices. */
#define MCPI_YARDSTICK_LANES 24 /* room for the widest path's lanes */
typedef struct {
    int path;
    uint64_t st[4 * MCPI_YARDSTICK_LANES];
} mcpi_yardstick;

/* Seeds a yardstick of the path; returns 0 where the path has none (scalar)
 * or the CPU cannot run it. */
int mcpi_yardstick_init(mcpi_yardstick *y, int path);

/* Hits among the points of the rounds (one output of every lane) whose first
 * point lies in [start, start + n), with start + n < 2^64.  Calls on
 * consecutive ranges from 0 to n run n rounded up to a whole round of lanes. */
uint64_t mcpi_yardstick_count(mcpi_yardstick *y, uint64_t start, uint64_t n);

#endif
