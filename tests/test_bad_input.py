"""Bad input: every wrong argument gets a TypeError or ValueError that names it,
never a crash or a wrong answer; valid values at the edges give the right one."""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import sys
import textwrap
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from interpreters import run_python

from pymcpi import Estimate, count_hits, count_inside, estimate_pi, sample_points
from pymcpi._core import _check_range

END = 2**64

RANGE_ARGS = [
    (count_hits, "n"), (count_hits, "seed"), (count_hits, "start"),
    (sample_points, "n"), (sample_points, "seed"), (sample_points, "start"),
    (estimate_pi, "n"), (estimate_pi, "seed"),
]
each_argument = pytest.mark.parametrize(
    "func,name", RANGE_ARGS, ids=[f"{f.__name__}-{a}" for f, a in RANGE_ARGS])


def call(func, name, value, n=5):
    return func(**{"n": n, name: value})


def comparable(result):
    """A result with the parts that may differ between equal calls removed."""
    if isinstance(result, Estimate):
        return dataclasses.replace(result, elapsed=0.0)
    if isinstance(result, np.ndarray):
        return result.dtype, result.shape, result.tolist()
    return type(result), result


class Index:
    """An integer-like object that only has ``__index__``."""

    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


# ---------------------------------------------------------------- n, seed, start

@each_argument
@pytest.mark.parametrize("value", [-1, -2**63, -2**64, -2**100, np.int64(-1), np.int8(-128),
                                   Index(-5)], ids=repr)
def test_negative_is_a_value_error(func, name, value):
    least = 1 if (func, name) == (estimate_pi, "n") else 0
    with pytest.raises(ValueError, match=rf"^{name} must be >= {least}.*, got -\d+$"):
        call(func, name, value)


@each_argument
@pytest.mark.parametrize("value", [END, END + 1, 2**100, Index(END)], ids=repr)
def test_too_large_is_a_value_error(func, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be below 2\*\*64, got \d+$"):
        call(func, name, value)


@pytest.mark.parametrize("func", [count_hits, sample_points])
@pytest.mark.parametrize("n,start", [(11, END - 10), (2, END - 1), (END - 1, 2), (2**63, 2**63 + 1)])
def test_range_past_the_stream_end_is_a_value_error(func, n, start):
    with pytest.raises(ValueError, match=rf"^start \+ n must be at most 2\*\*64.*start={start}, n={n}$"):
        func(n, seed=1, start=start)


@pytest.mark.parametrize("n", [10, 2**20])
def test_range_may_end_exactly_at_the_stream_end(n):
    start, cut = END - n, n // 3 + 1
    whole = count_hits(n, seed=3, start=start)
    assert whole == count_hits(cut, seed=3, start=start) + count_hits(n - cut, seed=3, start=start + cut)
    assert whole == count_hits(np.uint64(n), seed=np.uint64(3), start=np.uint64(start))
    tail = min(n, 1000)
    assert count_inside(sample_points(tail, seed=3, start=END - tail)) == count_hits(tail, seed=3, start=END - tail)
    assert count_hits(0, seed=3, start=END - 1) == 0
    assert sample_points(0, seed=3, start=END - 1).shape == (0, 2)


@each_argument
@pytest.mark.parametrize("value,hint", [(1e9, "10**9"), (2.5e9, "2500000000"),
                                        (np.float64(1e6), "10**6"), (3.0, "3"), (10.0, "10"),
                                        (100.0, "100")], ids=repr)
def test_whole_float_is_a_type_error_with_the_integer_to_write(func, name, value, hint):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, not float .*; write {re.escape(hint)}$"):
        call(func, name, value)


@each_argument
@pytest.mark.parametrize("value", [1.5, 1e-3, math.nan, math.inf, -math.inf, -1.0, 2.0**64],
                         ids=repr)
def test_fractional_negative_or_huge_float_is_a_type_error_without_hint(func, name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, not float") as info:
        call(func, name, value)
    assert "write" not in str(info.value)


@each_argument
@pytest.mark.parametrize("value", [True, False, np.True_, np.False_], ids=repr)
def test_bool_is_a_type_error(func, name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, not (numpy\.)?bool$"):
        call(func, name, value)


@each_argument
@pytest.mark.parametrize("value", [None, "5", b"5", [5], 5j, Fraction(5), Decimal(5), np.float32(5),
                                   np.array(5.0), np.array([5]), Index(5.0)], ids=repr)
def test_non_integer_is_a_type_error(func, name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, not "):
        call(func, name, value)


INTEGER_LIKES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                 np.array, lambda v: np.array(v, dtype=np.uint64), Index]


@each_argument
@pytest.mark.parametrize("convert", INTEGER_LIKES,
                         ids=["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                              "0-d int64 array", "0-d uint64 array", "__index__"])
def test_integer_likes_give_the_python_int_answer(func, name, convert):
    assert comparable(call(func, name, convert(100))) == comparable(call(func, name, 100))


@pytest.mark.parametrize("func", [count_hits, sample_points, estimate_pi])
def test_largest_seed_as_numpy_uint64(func):
    seed = END - 1
    assert comparable(func(300, seed=np.uint64(seed))) == comparable(func(300, seed=seed))
    assert comparable(func(300, seed=np.uint64(seed))) != comparable(func(300, seed=seed - 1))


@pytest.mark.parametrize("make_call,message", [
    (lambda: count_hits(1, 2, 3, 4), "at most 3 arguments"),
    (lambda: sample_points(1, 2, 3, 4), "at most 3 arguments"),
    (lambda: count_hits(1, stop=5), "'stop' is an invalid keyword argument"),
    (lambda: sample_points(1, n=1), r"given by name \('n'\) and position"),
    (lambda: count_hits(seed=1), "missing required argument 'n'"),
    (lambda: estimate_pi(10, 1), "takes 1 positional argument"),
    (lambda: estimate_pi(10, start=1), "unexpected keyword argument 'start'"),
    (lambda: count_inside(), "exactly one argument"),
    (lambda: count_inside([[0, 0]], [[0, 0]]), "exactly one argument"),
], ids=["count_hits-4", "sample_points-4", "unknown keyword", "n twice", "no n",
        "estimate_pi seed positional", "estimate_pi start", "count_inside-0", "count_inside-2"])
def test_wrong_call_signature_is_a_type_error(make_call, message):
    with pytest.raises(TypeError, match=message):
        make_call()


@pytest.mark.parametrize("n", [0, np.uint64(0), Index(0)], ids=repr)
def test_estimate_pi_needs_a_point(n):
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        estimate_pi(n, seed=5)


@pytest.mark.parametrize("n", [2**62, 2**59, 2**59 - 1])
def test_sample_points_beyond_any_memory_is_a_memory_error(n):
    with pytest.raises(MemoryError):
        sample_points(n)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
def test_sample_points_that_cannot_be_allocated_is_a_memory_error():
    # The address-space limit makes the 16 TiB request fail whatever the
    # kernel's overcommit policy.
    proc = run_python(textwrap.dedent("""
        import resource, pymcpi
        vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:"))
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = vm * 1024 + 2**31
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        try:
            pymcpi.sample_points(2**40)
        except MemoryError:
            print("MemoryError")
        print(pymcpi.sample_points(2**10).shape)
        """))
    assert proc.stdout.split("\n")[:2] == ["MemoryError", "(1024, 2)"]


# ---------------------------------------------------------------- count_inside

@pytest.mark.parametrize("points", [np.zeros(3), np.zeros((3, 3)), np.zeros((2, 2, 2)), [],
                                    np.empty((0, 3)), np.empty((5, 0)), np.float64(0.5), [[0.1, 0.2, 0.3]]],
                         ids=["(3,)", "(3, 3)", "(2, 2, 2)", "[]", "(0, 3)", "(5, 0)", "scalar", "(1, 3)"])
def test_count_inside_wrong_shape_is_a_value_error(points):
    shape = np.shape(points)
    with pytest.raises(ValueError, match=rf"^points must have shape \(N, 2\), got shape {re.escape(str(shape))}$"):
        count_inside(points)


@pytest.mark.parametrize("points", [[[0.1, 0.2], [0.3]], [[0.1, 0.2], 0.3], [[0.1, 0.2], [0.3, [0.4]]]],
                         ids=["short row", "bare number", "nested"])
def test_count_inside_ragged_list_is_a_value_error(points):
    with pytest.raises(ValueError, match=r"^points must be an array-like of shape \(N, 2\), not list"):
        count_inside(points)


@pytest.mark.parametrize("points", [
    np.array([[0.1, 0.2]], dtype=object), np.zeros((2, 2), np.complex64), np.zeros((2, 2), np.complex128),
    np.array([["0.1", "0.2"]]), np.array([[b"0", b"0"]]), np.zeros((2, 2), "datetime64[s]"),
    np.zeros((2, 2), "timedelta64[s]"), np.zeros((2, 2), np.longdouble), np.zeros((2, 2), bool),
    np.zeros((2, 2), [("x", "f8")]), [[2**70, 0]],
], ids=["object", "complex64", "complex128", "str", "bytes", "datetime64", "timedelta64", "longdouble",
        "bool", "structured", "huge ints"])
def test_count_inside_non_real_dtype_is_a_type_error(points):
    dtype = np.asarray(points).dtype
    with pytest.raises(TypeError, match=rf"^points must hold real numbers \(float32 or float64\), not "
                                        rf"{re.escape(str(dtype))}$"):
        count_inside(points)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                                   np.int64, np.uint64, np.float16, np.float32, np.float64])
def test_count_inside_converts_integers_and_float16(dtype):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    points = np.array([[0, 0], [1, 0], [0, 1], [info.max, 0], [0, 0], [0, info.max]], dtype)
    assert count_inside(points) == 2
    if dtype is np.float16:
        ring = near_circle(np.float16, count=200, steps=1)
        assert count_inside(ring) == sum(map(exactly_inside, ring))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_count_inside_empty(dtype):
    assert count_inside(np.empty((0, 2), dtype)) == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_count_inside_nan_and_infinity_are_never_inside(dtype):
    nan, inf = math.nan, math.inf
    points = np.array([[nan, 0], [0, nan], [inf, 0], [0, -inf], [0.5, 0.5], [-nan, -nan],
                       [-inf, inf], [nan, inf], [0.25, -0.5]], dtype)
    assert count_inside(points) == 2


def exactly_inside(row) -> bool:
    """x**2 + y**2 < 1 in exact rational arithmetic."""
    x, y = (Fraction(float(v)) for v in row)
    return x * x + y * y < 1


def near_circle(dtype, count=300, steps=2):
    """Points of dtype on and next to the unit circle, in all four quadrants:
    cos and sin of many angles with each coordinate moved up to ``steps`` ulps
    either way, and grazing points (1 - d, ~sqrt(2d)) next to the axes."""
    dtype = np.dtype(dtype).type
    t = np.random.default_rng(5).uniform(0, 2 * np.pi, count)
    x0, y0 = np.cos(t).astype(dtype), np.sin(t).astype(dtype)
    half_eps = np.finfo(dtype).eps / 2
    x1 = np.repeat(1 - np.arange(1, 4) * half_eps, 7).astype(dtype)
    y1 = np.sqrt(2 * (1 - x1.astype(np.float64))).astype(dtype)
    x0, y0 = np.concatenate([x0, x1, -y1]), np.concatenate([y0, y1, -x1])

    def moved(v, k):
        for _ in range(abs(k)):
            v = np.nextafter(v, dtype(math.copysign(math.inf, k)))
        return v

    shifts = range(-steps, steps + 1)
    return np.concatenate([np.stack([moved(x0, i), moved(y0, j)], 1) for i in shifts for j in shifts])


def test_points_on_the_circle_are_outside():
    on = [[1, 0], [0, 1], [-1, 0], [0, -1], [-0.0, 1], [1, -0.0]]
    for dtype in (np.float16, np.float32, np.float64):
        assert count_inside(np.array(on, dtype)) == 0


def test_points_next_to_the_circle_are_judged_exactly():
    x = 1 - 2**-53
    # 0.6**2 + 0.8**2 rounds to 1.0; the exact sum is above 1.  The first
    # grazing point rounds to 1.0 and is inside; the second is 1 + 2**-106.
    cases = [(0.6, 0.8), (np.float32(0.6), np.float32(0.8)), (x, 2**-26 - 2**-79), (x, 2**-26)]
    assert [exactly_inside(c) for c in cases] == [False, False, True, False]
    assert 0.6**2 + 0.8**2 == 1.0 and not x * x + (2**-26 - 2**-79) ** 2 < 1
    for case in cases:
        points = np.array([case], dtype=np.result_type(*case))
        assert count_inside(points) == exactly_inside(case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_inside_matches_exact_rationals_near_the_circle(dtype):
    points = near_circle(dtype)
    exact = [exactly_inside(row) for row in points]
    rounded = (points[:, 0] * points[:, 0] + points[:, 1] * points[:, 1] < 1).tolist()
    assert rounded != exact  # the set has points that rounding misjudges
    assert [count_inside(points[i:i + 1]) for i in range(len(points))] == exact
    assert count_inside(points) == sum(exact)


def mixed_points(rows=3000):
    """Rows inside (r = 0.5), next to (r = 1) and outside (r = 1.5) the circle,
    in turn, so that a wrong stride or order changes the count."""
    t = np.random.default_rng(11).uniform(0, 2 * np.pi, rows)
    r = np.resize([0.5, 1.0, 1.5], rows)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def unaligned(a):
    buf = np.empty(a.nbytes + 1, np.uint8)
    view = buf[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned
    return view


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


LAYOUTS = {
    "every third row": lambda a: a[::3],
    "reversed": lambda a: a[::-1, ::-1],
    "Fortran order": np.asfortranarray,
    "Fortran, every second row": lambda a: np.asfortranarray(a)[1::2],
    "transposed (2, N)": lambda a: np.ascontiguousarray(a.T).T,
    "byte-swapped": lambda a: a.astype(a.dtype.newbyteorder()),
    "byte-swapped, every third row": lambda a: a.astype(a.dtype.newbyteorder())[::3],
    "unaligned": unaligned,
    "read-only": read_only,
    "broadcast row": lambda a: np.broadcast_to(a[0], (500, 2)),
    "column pair of a wider array": lambda a: np.concatenate([a, a[:, ::-1] * 2], 1)[:, 1:3],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_count_inside_views_match_a_contiguous_float64_copy(dtype, layout):
    view = LAYOUTS[layout](mixed_points().astype(dtype))
    copy = np.ascontiguousarray(view, dtype=np.float64)
    assert count_inside(view) == count_inside(copy) == sum(map(exactly_inside, copy))


# ---------------------------------------------------------------- Estimate

@pytest.mark.parametrize("level", [0, 1, 0.0, 1.0, 1.5, -0.1, math.nan, math.inf], ids=repr)
def test_ci_level_out_of_range_is_a_value_error(level):
    with pytest.raises(ValueError, match=r"^level must be strictly between 0 and 1"):
        Estimate(n=100, hits=78, seed=0).ci(level)


@pytest.mark.parametrize("level", ["0.9", True, None, Decimal("0.9")], ids=repr)
def test_ci_level_of_wrong_type_is_a_type_error(level):
    with pytest.raises(TypeError, match=r"^level must be a number, not "):
        Estimate(n=100, hits=78, seed=0).ci(level)


@pytest.mark.parametrize("fields,message", [
    (dict(n=0, hits=0), r"^n must be >= 1, got 0$"),
    (dict(n=-5, hits=0), r"^n must be >= 1, got -5$"),
    (dict(n=10, hits=11), r"^hits must be in \[0, n\], got hits=11, n=10$"),
    (dict(n=10, hits=-1), r"^hits must be in \[0, n\], got hits=-1, n=10$"),
    (dict(n=10, hits=5, workers=0), r"^workers must be >= 1, got 0$"),
], ids=["n=0", "n<0", "hits>n", "hits<0", "workers=0"])
def test_estimate_out_of_range_is_a_value_error(fields, message):
    with pytest.raises(ValueError, match=message):
        Estimate(**{"seed": 0, **fields})


@pytest.mark.parametrize("name,value", [("n", 10.0), ("n", True), ("hits", "5"), ("seed", None),
                                        ("workers", 2.0)], ids=repr)
def test_estimate_field_of_wrong_type_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, not "):
        Estimate(**{"n": 10, "hits": 5, "seed": 0, name: value})


class Interrupting:
    """An integer-like object whose ``__index__`` is interrupted."""

    def __index__(self):
        raise KeyboardInterrupt


@each_argument
def test_exception_inside_index_is_not_masked(func, name):
    with pytest.raises(KeyboardInterrupt):
        call(func, name, Interrupting())


def test_count_inside_rejects_masked_arrays():
    points = np.ma.masked_array([[0.1, 0.1], [0.2, 0.2]], mask=[[False, False], [True, False]])
    with pytest.raises(TypeError, match=r"^points must not be a masked array.*compress_rows"):
        count_inside(points)
    assert count_inside(np.ma.compress_rows(points)) == 1


class ArrayOf:
    """An object whose ``__array__`` returns the array it holds."""

    def __init__(self, array):
        self.array = array

    def __array__(self, dtype=None, copy=None):
        return self.array


MASKED = np.ma.masked_array([[0.1, 0.1], [0.2, 0.2], [0.9, 0.9]],
                            mask=[[False, False], [True, True], [False, False]])


@pytest.mark.parametrize("route", [
    pytest.param(list, id="list(m)"),
    pytest.param(tuple, id="tuple(m)"),
    pytest.param(ArrayOf, id="__array__"),
    pytest.param(lambda m: [list(row) for row in m], id="rows as lists"),
    pytest.param(lambda m: [m[0], [0.5, 0.5]], id="one masked row"),
    pytest.param(lambda m: [[np.ma.masked, 0.1]], id="masked constant"),
])
def test_count_inside_rejects_masked_arrays_wherever_they_come_from(route):
    # NumPy would read the data under the mask and count the masked row too.
    with pytest.raises(TypeError, match=r"^points must not be a masked array or hold one"):
        count_inside(route(MASKED))
    assert count_inside(np.ma.compress_rows(MASKED)) == 1


def test_count_inside_reads_plain_rows_and_array_likes():
    plain = MASKED.filled(0.9)
    assert count_inside(list(plain)) == count_inside(ArrayOf(plain)) == 1
    assert count_inside([list(row) for row in plain]) == 1


class EqualityRaises(int):
    """An int whose ``__eq__`` raises: a value check must not call it."""

    def __eq__(self, other):
        raise ZeroDivisionError

    __hash__ = int.__hash__


@pytest.mark.parametrize("func", [count_hits, sample_points, _check_range])
@pytest.mark.parametrize("n,start", [(0, 5), (0, 2**64), (3, 5), (0, 2**64 - 1)])
def test_int_subclass_with_raising_eq_is_read_by_value(func, n, start):
    # Used to leave an exception set and raise SystemError.
    got = func(n, 1, EqualityRaises(start))
    want = func(n, 1, start)
    if isinstance(want, np.ndarray):
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


def test_int_subclass_past_the_stream_end_is_still_refused():
    with pytest.raises(ValueError, match="start must be below 2"):
        count_hits(0, 1, EqualityRaises(2**64 + 1))


def test_count_inside_takes_points_by_position_only():
    with pytest.raises(TypeError):
        count_inside(points=np.zeros((1, 2)))
    assert str(inspect.signature(count_inside)) == "(points, /)"


def test_estimate_accepts_numpy_integers():
    est = Estimate(n=np.int64(10), hits=np.uint8(7), seed=np.uint64(2**64 - 1), workers=np.int32(2))
    assert (type(est.n), type(est.hits), type(est.seed), type(est.workers)) == (int, int, int, int)
    assert est == Estimate(n=10, hits=7, seed=2**64 - 1, workers=2)
