/*
 * Run-time choice of the SIMD path.  Every path computes the same stream, so
 * the choice changes speed only.  No path is compiled for the whole file with
 * -mavx2, /arch:AVX2 or -march=native: vector kernels are compiled for their
 * instruction set function by function (cpu.h), and are only called after
 * the CPU and the OS have been checked.
 *
 * Before a vector path is first used, its kernel must give the scalar
 * kernel's answers on a few blocks at fixed places (the self-test): this
 * guards every machine against a miscompiled or mis-dispatched kernel, which
 * no test run elsewhere can.
 */
#include <string.h>

#include "dispatch.h"
#include "kernels.h"
#include "stream.h"

typedef struct {
    const char *name;
    mcpi_blocks_fn blocks;
    int (*supported)(void);
    mcpi_yardstick_fn yardstick; /* NULL for the scalar path */
    unsigned lanes;              /* of the yardstick */
} mcpi_path;

static int
always(void)
{
    return 1;
}

#if defined(MCPI_X86)
/* CPUID feature bits: leaf 1 ECX, and leaf 7 (subleaf 0) EBX. */
#define CPUID1_OSXSAVE (1u << 27)
#define CPUID1_AVX (1u << 28)
#define CPUID7_AVX2 (1u << 5)
#define CPUID7_AVX512F (1u << 16)

/* XCR0 bits: the OS saves SSE and AVX (YMM) state; for AVX-512 also the
 * opmask registers, the upper halves of ZMM0-15 and ZMM16-31. */
#define XCR0_AVX UINT64_C(0x06)
#define XCR0_AVX512 UINT64_C(0xe6)

/* 1 if the CPU has the leaf 7 feature bits in `features` and the OS saves
 * all the register state in `xcr0` across context switches.  (macOS enables
 * AVX-512 state lazily, so there this check fails before the first AVX-512
 * instruction and the avx2 path runs instead: slower, safe.) */
static int
cpu_has(unsigned features, uint64_t xcr0)
{
    unsigned leaf1[4], leaf7[4];
    if (!mcpi_cpuid(1, 0, leaf1) || !mcpi_cpuid(7, 0, leaf7)) {
        return 0;
    }
    /* Without OSXSAVE, xgetbv would fault. */
    if ((leaf1[2] & (CPUID1_OSXSAVE | CPUID1_AVX)) != (CPUID1_OSXSAVE | CPUID1_AVX) ||
        (leaf7[1] & features) != features) {
        return 0;
    }
    return (mcpi_xgetbv0() & xcr0) == xcr0;
}

static int
has_avx2(void)
{
    return cpu_has(CPUID7_AVX2, XCR0_AVX);
}

static int
has_avx512(void)
{
    return cpu_has(CPUID7_AVX512F, XCR0_AVX512);
}
#endif

/* Ordered from slowest to fastest. */
static const mcpi_path paths[] = {
    {"scalar", mcpi_blocks_scalar, always, NULL, 0},
#if defined(MCPI_X86)
    {"avx2", mcpi_blocks_avx2, has_avx2, mcpi_yardstick_avx2, MCPI_AVX2_LANES},
    {"avx512", mcpi_blocks_avx512, has_avx512, mcpi_yardstick_avx512,
     MCPI_AVX512_LANES},
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

uint64_t
mcpi_count_blocks(const mcpi_key *key, uint64_t first, uint64_t count)
{
    return kernel(mcpi_path_active())(key, first, count);
}

/* ------------------------------------------------------------------ */
/* Yardsticks                                                         */

#if defined(MCPI_X86) && (MCPI_AVX2_LANES > MCPI_YARDSTICK_LANES ||           \
                          MCPI_AVX512_LANES > MCPI_YARDSTICK_LANES)
#error "mcpi_yardstick has no room for every lane of a path"
#endif

int
mcpi_yardstick_init(mcpi_yardstick *y, int path)
{
    if (path < 0 || path >= NPATHS || paths[path].yardstick == NULL ||
        !paths[path].supported()) {
        return 0;
    }
    y->path = path;
    mcpi_yardstick_states(paths[path].lanes, y->st);
    return 1;
}

uint64_t
mcpi_yardstick_count(mcpi_yardstick *y, uint64_t start, uint64_t n)
{
    /* Round r's first point is r * lanes: the rounds from ceil(start / lanes)
     * up to ceil((start + n) / lanes), written so that nothing overflows. */
    const uint64_t lanes = paths[y->path].lanes, end = start + n;
    const uint64_t first = start / lanes + (start % lanes != 0);
    const uint64_t last = end / lanes + (end % lanes != 0);
    return paths[y->path].yardstick(y->st, last - first);
}
