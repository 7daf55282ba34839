/*
 * count_inside for arbitrary float arrays: x^2 + y^2 < 1 decided exactly, so
 * that on points of the stream it agrees with the integer test bit for bit.
 */
#include <float.h>
#include <math.h>

#include "mcpi.h"

/* The exact path needs each operation on doubles rounded once, to double:
 * FLT_EVAL_METHOD 0, or 1, which widens only float operations (GCC on s390x
 * in strict ISO C mode); all arithmetic here is on doubles.  Not 2 (x87). */
#if !defined(FLT_EVAL_METHOD) || (FLT_EVAL_METHOD != 0 && FLT_EVAL_METHOD != 1)
#error "pymcpi needs FLT_EVAL_METHOD 0 or 1 (SSE2 or better on x86)"
#endif

/* a + b = s + *err exactly (Knuth's TwoSum). */
static double
two_sum(double a, double b, double *err)
{
    const double s = a + b;
    const double bb = s - a;
    *err = (a - (s - bb)) + (b - bb);
    return s;
}

/* The sign of x^2 + y^2 - 1 computed without rounding error: the squares are
 * split into exact double-double pairs with fma, and the five terms are summed
 * into a non-overlapping expansion (Shewchuk's grow-expansion), whose largest
 * non-zero component carries the sign of the whole sum. */
static int
exact_inside(double x, double y)
{
    const double p = x * x, q = y * y;
    double e[5] = {-1.0};
    const double terms[4] = {p, q, fma(x, x, -p), fma(y, y, -q)};
    int m = 1;
    for (int t = 0; t < 4; t++) {
        double carry = terms[t];
        for (int i = 0; i < m; i++) {
            carry = two_sum(carry, e[i], &e[i]);
        }
        e[m++] = carry;
    }
    for (int i = m - 1; i >= 0; i--) {
        if (e[i] != 0.0) {
            return e[i] < 0.0;
        }
    }
    return 0; /* exactly on the circle */
}

/* Relative error of fl(fl(x*x) + fl(y*y)) is below 3 * 2^-53, so a rounded
 * sum outside [1 - 2^-50, 1 + 2^-50] has the same side as the exact one. */
#define MARGIN (1.0 / 1125899906842624.0) /* 2^-50 */

static int
inside(double x, double y)
{
    if (!(fabs(x) < 1.0 && fabs(y) < 1.0)) {
        return 0; /* also NaN and infinities */
    }
    const double s = x * x + y * y;
    if (s < 1.0 - MARGIN) {
        return 1;
    }
    if (s > 1.0 + MARGIN) {
        return 0;
    }
    return exact_inside(x, y);
}

/* Reads one coordinate, stored as float or double. */
static double
load(const char *at, int single)
{
    return single ? (double)*(const float *)at : *(const double *)at;
}

uint64_t
mcpi_count_inside(const char *base, size_t rows, ptrdiff_t row_stride,
                  ptrdiff_t col_stride, int single)
{
    uint64_t hits = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *row = base + (ptrdiff_t)r * row_stride;
        hits += (uint64_t)inside(load(row, single), load(row + col_stride, single));
    }
    return hits;
}
