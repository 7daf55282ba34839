/*
 * The C core against answers from x86-64, on any architecture.
 *
 * The core has no Python in it, so this program, compiled with the core for
 * another architecture (tests/test_cross_arch.py builds it for aarch64 and
 * big-endian s390x and runs it under qemu-user), shows that the stream is the
 * same there: hits of mcpi_count_range and a hash of the coordinates of
 * mcpi_sample_range over ranges at block edges, at both ends of the stream,
 * for several seeds, plus the pinned answers of tests/test_stream.py.  It also
 * checks mcpi_count_inside on the sampled points, the scalar path's
 * self-test, and that every path this CPU can run gives the same hits.
 *
 *   crosscheck          check; prints one line, exits 0 if all agree
 *   crosscheck --print  print the expected[] table for the ranges below
 *
 * The expected[] table was printed by `crosscheck --print` built natively on
 * x86-64 (after its own check of every path against the pure-Python reference
 * through the test suite), and pasted here.  It must never change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpi.h"

#define END_MINUS(k) (UINT64_MAX - (uint64_t)(k) + 1) /* 2^64 - k */
#define SAMPLED 200000 /* ranges up to this long are sampled too */

static const struct {
    uint64_t seed, start, n;
} ranges[] = {
    /* the pinned answers */
    {0, 0, 1},
    {0, 0, 1000},
    {0, 0, 1000000},
    {7, 0, 1000000},
    {7, 0, 10000000},
    {1, 255, 12345},
    {3, END_MINUS(1000000), 1000000},
    {2024, 1000000000000, 100000000},
    /* inside a block, across block edges, many blocks */
    {0, 0, 256},
    {1, 0, 257},
    {7, 5, 3},
    {7, 255, 2},
    {7, 768, 2304},
    {42, 128, 5137},
    {99, 1000003, 50 * 256 + 77},
    {UINT64_C(1) << 32, 256 * 1000 - 1, 2},
    {UINT64_C(1) << 32, 256 * 1000, 24 * 256 * 3 + 1},
    {UINT64_C(1) << 63, (UINT64_C(1) << 40) + 3, 1000},
    /* both ends of the stream */
    {UINT64_MAX, 0, 33 * 256},
    {UINT64_MAX, END_MINUS(700), 700},
    {123456789, END_MINUS(1), 1},
    {5, END_MINUS(30 * 256 + 5), 30 * 256 + 5},
    {UINT64_MAX, END_MINUS(100000), 100000},
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

/* Hits, and the FNV-1a hash of the coordinates' bit patterns (0 if the range
 * is too long to sample), from x86-64. */
static const struct {
    uint64_t hits, points;
} expected[] = {
    /* printed by crosscheck --print */
    {1, UINT64_C(0x63918b37995d734f)},
    {805, UINT64_C(0x707ed61249c162f1)},
    {784887, UINT64_C(0x0000000000000000)},
    {785184, UINT64_C(0x0000000000000000)},
    {7853108, UINT64_C(0x0000000000000000)},
    {9731, UINT64_C(0x20afbf1d9a1c1d59)},
    {784934, UINT64_C(0x0000000000000000)},
    {78542281, UINT64_C(0x0000000000000000)},
    {209, UINT64_C(0x4a5615e8c9c8c4d5)},
    {189, UINT64_C(0xfd83d062939d34b0)},
    {3, UINT64_C(0xe6c8d2e538f2b2c6)},
    {1, UINT64_C(0x1c70b58b244fb364)},
    {1803, UINT64_C(0x26167e51a15a2f35)},
    {4053, UINT64_C(0xb1c7c2b514c808a7)},
    {10141, UINT64_C(0xff888e6942727397)},
    {2, UINT64_C(0x52de63cd3d000f4f)},
    {14613, UINT64_C(0x1d7665a723c69988)},
    {786, UINT64_C(0x716ec9463222fdc0)},
    {6687, UINT64_C(0x1da9a89d785cead5)},
    {567, UINT64_C(0x1629a848e39d61ec)},
    {1, UINT64_C(0xaaaf74b5d2062f5b)},
    {6019, UINT64_C(0x1e532db4722a9e10)},
    {78544, UINT64_C(0xf4f004c6ff92341a)},
};

/* FNV-1a over the 64-bit patterns of the doubles, byte by byte from the
 * least significant: the same on little- and big-endian machines. */
static uint64_t
hash_points(const double *xy, uint64_t count)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t bits;
        memcpy(&bits, &xy[i], sizeof bits);
        for (int b = 0; b < 8; b++) {
            h = (h ^ ((bits >> (8 * b)) & 0xff)) * UINT64_C(0x100000001b3);
        }
    }
    return h;
}

/* Hits on every path this CPU can run; 1 if they all agree, with *hits set. */
static int
count_on_every_path(const mcpi_key *key, uint64_t start, uint64_t n, uint64_t *hits)
{
    int agree = 1;
    mcpi_path_select(0);
    *hits = mcpi_count_range(key, start, n);
    for (int p = 1; p < mcpi_path_count(); p++) {
        if (mcpi_path_select(p) == MCPI_PATH_USABLE &&
            mcpi_count_range(key, start, n) != *hits) {
            fprintf(stderr, "path %s disagrees with scalar\n", mcpi_path_name(p));
            agree = 0;
        }
    }
    return agree;
}

int
main(int argc, char **argv)
{
    const int print = argc > 1 && strcmp(argv[1], "--print") == 0;
    double *xy = malloc(2 * SAMPLED * sizeof(double));
    int failures = 0;

    if (xy == NULL) {
        return 2;
    }
    if (!print && sizeof(expected) / sizeof(expected[0]) != NRANGES) {
        fprintf(stderr, "crosscheck: expected[] has no row for every range\n");
        return 2;
    }
    if (!mcpi_path_self_test(0)) {
        fprintf(stderr, "crosscheck: the scalar path fails its self-test\n");
        failures++;
    }
    for (size_t r = 0; r < NRANGES; r++) {
        mcpi_key key;
        uint64_t hits, points = 0;
        mcpi_key_init(&key, ranges[r].seed);
        if (!count_on_every_path(&key, ranges[r].start, ranges[r].n, &hits)) {
            failures++;
        }
        if (ranges[r].n <= SAMPLED) {
            mcpi_sample_range(&key, ranges[r].start, ranges[r].n, xy);
            points = hash_points(xy, 2 * ranges[r].n);
            if (mcpi_count_inside((const char *)xy, ranges[r].n, 2 * sizeof(double),
                                  sizeof(double), 0) != hits) {
                fprintf(stderr, "range %zu: count_inside disagrees with the kernel\n", r);
                failures++;
            }
        }
        if (print) {
            printf("    {%llu, UINT64_C(0x%016llx)},\n", (unsigned long long)hits,
                   (unsigned long long)points);
        }
        else if (hits != expected[r].hits || points != expected[r].points) {
            fprintf(stderr,
                    "range %zu (seed %llu, start %llu, n %llu): hits %llu, points "
                    "%016llx; expected %llu, %016llx\n",
                    r, (unsigned long long)ranges[r].seed,
                    (unsigned long long)ranges[r].start, (unsigned long long)ranges[r].n,
                    (unsigned long long)hits, (unsigned long long)points,
                    (unsigned long long)expected[r].hits,
                    (unsigned long long)expected[r].points);
            failures++;
        }
    }
    free(xy);
    if (!print) {
        const uint16_t one = 1;
        printf("crosscheck: %zu ranges, %s (%s-endian)\n", NRANGES,
               failures ? "FAILED" : "all as on x86-64",
               *(const unsigned char *)&one ? "little" : "big");
    }
    return failures ? 1 : 0;
}
