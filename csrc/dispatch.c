/*
 * Run-time choice of the SIMD path.  Every path computes the same stream, so
 * the choice changes speed only.  No path is compiled for the whole file with
 * -mavx2 or -march=native: vector kernels carry per-function target
 * attributes, and are only called after the CPU has been checked.
 *
 * Before a vector path is first used, its kernel must give the scalar
 * kernel's answers on a few blocks at fixed places (the self-test): this
 * guards every machine against a miscompiled or mis-dispatched kernel, which
 * no test run elsewhere can.
 */
#include <string.h>

#include "stream.h"

#if defined(MCPI_X86)
#include <cpuid.h>
#endif

typedef struct {
    const char *name;
    mcpi_blocks_fn blocks;
    int (*supported)(void);
    mcpi_yardstick_fn yardstick; /* NULL for the scalar path */
} mcpi_path;

static int
always(void)
{
    return 1;
}

#if defined(MCPI_X86)
/* XCR0 bits: the OS saves SSE and AVX (YMM) state; for AVX-512 also the
 * opmask registers, the upper halves of ZMM0-15 and ZMM16-31. */
#define XCR0_AVX UINT64_C(0x06)
#define XCR0_AVX512 UINT64_C(0xe6)

/* 1 if the OS saves all the register state in mask across context switches.
 * GCC's and Clang's __builtin_cpu_supports read XCR0 too, in current
 * releases; checking here keeps the guarantee whatever the compiler.
 * (macOS enables AVX-512 state lazily, so there this check fails before the
 * first AVX-512 instruction and the avx2 path runs instead: slower, safe.) */
static int
os_saves(uint64_t mask)
{
    unsigned eax, ebx, ecx, edx, lo, hi;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) {
        return 0; /* without OSXSAVE, xgetbv would fault */
    }
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((((uint64_t)hi << 32) | lo) & mask) == mask;
}

static int
has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && os_saves(XCR0_AVX);
}

static int
has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && os_saves(XCR0_AVX512);
}
#endif

/* Ordered from slowest to fastest. */
static const mcpi_path paths[] = {
    {"scalar", mcpi_blocks_scalar, always, NULL},
#if defined(MCPI_X86)
    {"avx2", mcpi_blocks_avx2, has_avx2, mcpi_yardstick_avx2},
    {"avx512", mcpi_blocks_avx512, has_avx512, mcpi_yardstick_avx512},
#endif
};

#define NPATHS ((int)(sizeof(paths) / sizeof(paths[0])))

#if defined(MCPI_TEST_BROKEN_PATH)
/* Test builds only (-DMCPI_TEST_BROKEN_PATH='"avx2"'): the named path's kernel
 * counts one hit too many, so that tests can see the self-test catch it. */
static mcpi_blocks_fn broken_kernel;

static uint64_t
broken(const mcpi_key *key, uint64_t first, uint64_t count)
{
    return broken_kernel(key, first, count) + 1;
}
#endif

static mcpi_blocks_fn
kernel(int path)
{
#if defined(MCPI_TEST_BROKEN_PATH)
    if (strcmp(paths[path].name, MCPI_TEST_BROKEN_PATH) == 0) {
        broken_kernel = paths[path].blocks;
        return broken;
    }
#endif
    return paths[path].blocks;
}

/* ------------------------------------------------------------------ */
/* Self-test                                                          */

#define LAST_BLOCK (UINT64_MAX / MCPI_BLOCK) /* 2^56 - 1 */

/* Hits among blocks [first, first + count) of seed SELF_TEST_SEED: a lone
 * block, the last blocks of the stream, and a run of whole groups of lanes
 * followed by a partial one on every path (groups of 8 blocks on avx2, 24 on
 * avx512).  The answers are the scalar kernel's, and those of the pure-Python
 * reference (the tests check both), so the self-test costs one run of the
 * kernel under test over 35 blocks: tens of microseconds. */
#define SELF_TEST_SEED UINT64_C(20240229)
static const struct {
    uint64_t first, count, hits;
} cases[] = {
    {0, 1, 196},
    {LAST_BLOCK - 6, 7, 1410},
    {(UINT64_C(1) << 40) + 5, 27, 5442},
};
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

static int
self_test(int path)
{
    mcpi_key key;
    mcpi_blocks_fn blocks = kernel(path);

    mcpi_key_init(&key, SELF_TEST_SEED);
    for (int c = 0; c < NCASES; c++) {
        if (blocks(&key, cases[c].first, cases[c].count) != cases[c].hits) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Paths                                                              */

static int status[NPATHS]; /* 0 until first asked, then an MCPI_PATH_* value */
static int active = -1;    /* -1 until first use: then the best path */

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
mcpi_path_status(int path)
{
    if (path < 0 || path >= NPATHS) {
        return MCPI_PATH_UNSUPPORTED;
    }
    if (status[path] == 0) {
        if (!paths[path].supported()) {
            status[path] = MCPI_PATH_UNSUPPORTED;
        }
        else {
            status[path] = (path == 0 || self_test(path)) ? MCPI_PATH_USABLE
                                                          : MCPI_PATH_FAILED;
        }
    }
    return status[path];
}

int
mcpi_path_self_test(int path)
{
    return path >= 0 && path < NPATHS && paths[path].supported() &&
           self_test(path);
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
    for (int i = NPATHS - 1; i > 0; i--) {
        if (mcpi_path_status(i) == MCPI_PATH_USABLE) {
            return i;
        }
    }
    return 0;
}

int
mcpi_path_select(int path)
{
    const int s = mcpi_path_status(path);
    if (s != MCPI_PATH_USABLE) {
        return s;
    }
    active = path;
    return MCPI_PATH_USABLE;
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
    return kernel(mcpi_path_active());
}

uint64_t
mcpi_path_yardstick(int path, uint64_t n)
{
    if (path < 0 || path >= NPATHS || paths[path].yardstick == NULL ||
        !paths[path].supported()) {
        return UINT64_MAX;
    }
    return paths[path].yardstick(n);
}
