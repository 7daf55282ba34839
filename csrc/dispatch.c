/*
 * Run-time choice of the SIMD path.  Every path computes the same stream, so
 * the choice changes speed only.  No path is compiled for the whole file with
 * -mavx2 or -march=native: vector kernels carry per-function target
 * attributes, and are only called after the CPU has been checked.
 */
#include <string.h>

#include "stream.h"

typedef struct {
    const char *name;
    mcpi_blocks_fn blocks;
    int (*supported)(void);
} mcpi_path;

static int
always(void)
{
    return 1;
}

#if defined(MCPI_X86)
static int
has_avx2(void)
{
    /* Checks the CPUID bit and that the OS saves the YMM registers. */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#endif

static const mcpi_path paths[] = {
    {"scalar", mcpi_blocks_scalar, always},
#if defined(MCPI_X86)
    {"avx2", mcpi_blocks_avx2, has_avx2},
#endif
};

#define NPATHS ((int)(sizeof(paths) / sizeof(paths[0])))

static int active = -1; /* -1 until first use: then the best path */

int
mcpi_path_count(void)
{
    return NPATHS;
}

const char *
mcpi_path_name(int path)
{
    return (path >= 0 && path < NPATHS) ? paths[path].name : NULL;
}

int
mcpi_path_supported(int path)
{
    return path >= 0 && path < NPATHS && paths[path].supported();
}

int
mcpi_path_find(const char *name)
{
    for (int i = 0; i < NPATHS; i++) {
        if (strcmp(paths[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

int
mcpi_path_best(void)
{
    int best = 0;
    for (int i = 1; i < NPATHS; i++) {
        if (paths[i].supported()) {
            best = i; /* the table is ordered from slowest to fastest */
        }
    }
    return best;
}

int
mcpi_path_select(int path)
{
    if (!mcpi_path_supported(path)) {
        return -1;
    }
    active = path;
    return 0;
}

int
mcpi_path_active(void)
{
    if (active < 0) {
        active = mcpi_path_best();
    }
    return active;
}

mcpi_blocks_fn
mcpi_blocks_active(void)
{
    return paths[mcpi_path_active()].blocks;
}
