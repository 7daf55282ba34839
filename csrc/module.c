/*
 * pymcpi._core: the thin binding of the C core to Python and NumPy.  It checks
 * arguments, and runs every long call through one loop (run_in_slices) that
 * releases the GIL around the core's work and answers Ctrl-C between slices.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include <numpy/arrayobject.h>

#include "mcpi.h"

/* Points (or rows) per slice of a long call, done with the GIL released;
 * signals are checked between slices, so Ctrl-C waits for one slice at most.
 * A multiple of the block size, so slices after the first start on a block
 * boundary. */
#define SLICE (UINT64_C(1) << 23)
/* Below this many points a call is too short to be worth releasing the GIL. */
#define SHORT_CALL (UINT64_C(1) << 14)

/* ------------------------------------------------------------------ */
/* Long calls                                                         */

/* Does items [start, start + len) of a call's work.  Runs with the GIL
 * released, so it must touch no Python object. */
typedef void (*slice_fn)(void *work, uint64_t start, uint64_t len);

/* Does items [start, start + n) of work, start + n <= 2^64, in slices that
 * end on multiples of SLICE, releasing the GIL around each and checking for
 * signals between them; a short call runs at once, holding the GIL.  Returns
 * 0, or -1 with the exception set if a signal handler raised (Ctrl-C). */
static int
run_in_slices(slice_fn fn, void *work, uint64_t start, uint64_t n)
{
    if (n < SHORT_CALL) {
        fn(work, start, n);
        return 0;
    }
    while (n > 0) {
        const uint64_t to_boundary = SLICE - start % SLICE;
        const uint64_t len = n < to_boundary ? n : to_boundary;
        Py_BEGIN_ALLOW_THREADS
        fn(work, start, len);
        Py_END_ALLOW_THREADS
        start += len; /* may wrap to 0 at the very end, when n becomes 0 */
        n -= len;
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Arguments                                                          */

/* The TypeError for a float where an integer belongs, with the integer to
 * write instead when the float is a whole number: 1e9 -> 10**9. */
static int
float_error(PyObject *obj, const char *name)
{
    const double v = PyFloat_AsDouble(obj);
    PyObject *whole;
    int k = 0;

    /* No hint where the integer would be rejected too. */
    if (!(v >= 0.0 && v < 18446744073709551616.0) || v != floor(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not float %R",
                     name, obj);
        return -1;
    }
    for (double p = 10.0; p <= v && k < 22; p *= 10.0) { /* exact powers */
        k++;
        if (p == v && k >= 3) {
            PyErr_Format(PyExc_TypeError,
                         "%s must be an integer, not float %R; write 10**%d",
                         name, obj, k);
            return -1;
        }
    }
    whole = PyLong_FromDouble(v);
    if (whole != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be an integer, not float %R; write %S", name, obj,
                     whole);
        Py_DECREF(whole);
    }
    return -1;
}

/* Writes a non-negative integer below 2^64 to *out, or raises an error that
 * names the argument.  Accepts int, NumPy integers and anything with
 * __index__; rejects bool and float (with a hint for values like 1e9). */
static int
as_u64(PyObject *obj, const char *name, uint64_t *out)
{
    PyObject *value = NULL;
    long long small;
    int overflow;

    if (PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not bool", name);
        return -1;
    }
    if (PyFloat_Check(obj)) {
        return float_error(obj, name);
    }
    if (!PyIndex_Check(obj) || (value = PyNumber_Index(obj)) == NULL) {
        /* Restate a TypeError with the argument's name; let anything else,
         * such as KeyboardInterrupt inside __index__, through unchanged. */
        if (value == NULL && PyErr_Occurred() &&
            !PyErr_ExceptionMatches(PyExc_TypeError)) {
            return -1;
        }
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.200s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    small = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (small == -1 && PyErr_Occurred()) {
        goto fail;
    }
    if (overflow < 0 || (overflow == 0 && small < 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %S", name, value);
        goto fail;
    }
    if (overflow == 0) {
        *out = (uint64_t)small;
    }
    else {
        *out = PyLong_AsUnsignedLongLong(value);
        if (*out == (uint64_t)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s must be below 2**64, got %S",
                         name, value);
            goto fail;
        }
    }
    Py_DECREF(value);
    return 0;
fail:
    Py_DECREF(value);
    return -1;
}

/* 1 if obj is the int 2**64, the length of the stream; 0 otherwise; -1 with an
 * exception set if the check fails.  The value is compared as an exact int,
 * so no __eq__ of an int subclass runs. */
static int
is_stream_end(PyObject *obj)
{
    PyObject *value, *end;
    int equal;

    if (!PyLong_Check(obj)) {
        return 0;
    }
    if ((value = PyNumber_Index(obj)) == NULL) {
        return -1;
    }
    end = PyLong_FromString("18446744073709551616", NULL, 10);
    equal = end == NULL ? -1 : PyObject_RichCompareBool(value, end, Py_EQ);
    Py_XDECREF(end);
    Py_DECREF(value);
    return equal;
}

/* Parses (n, seed=0, start=0) and checks that the range lies in the stream. */
static int
parse_range(PyObject *args, PyObject *kwargs, const char *format,
            uint64_t *n, uint64_t *seed, uint64_t *start)
{
    static char *kwlist[] = {"n", "seed", "start", NULL};
    PyObject *n_obj, *seed_obj = NULL, *start_obj = NULL;

    *seed = 0;
    *start = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, kwlist, &n_obj,
                                     &seed_obj, &start_obj)) {
        return -1;
    }
    if (as_u64(n_obj, "n", n) < 0 ||
        (seed_obj != NULL && as_u64(seed_obj, "seed", seed) < 0)) {
        return -1;
    }
    /* The empty range at the very end, start = 2**64, is valid too, so that
     * every split of a valid range is valid. */
    if (start_obj != NULL) {
        const int end = *n == 0 ? is_stream_end(start_obj) : 0;
        if (end < 0 || (!end && as_u64(start_obj, "start", start) < 0)) {
            return -1;
        }
    }
    if (*n > 0 && *start + (*n - 1) < *start) {
        PyErr_Format(PyExc_ValueError,
                     "start + n must be at most 2**64, the length of a seed's "
                     "stream; got start=%llu, n=%llu",
                     (unsigned long long)*start, (unsigned long long)*n);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(check_range_doc,
"_check_range(n, seed=0, start=0)\n--\n\n"
"Check arguments as count_hits does and return them as a tuple of ints,\n"
"for Python code that hands them on.\n");

static PyObject *
check_range(PyObject *self, PyObject *args, PyObject *kwargs)
{
    uint64_t n, seed, start;

    (void)self;
    if (parse_range(args, kwargs, "O|OO:_check_range", &n, &seed, &start) < 0) {
        return NULL;
    }
    return Py_BuildValue("(KKK)", (unsigned long long)n,
                         (unsigned long long)seed, (unsigned long long)start);
}

PyDoc_STRVAR(count_hits_doc,
"count_hits(n, seed=0, start=0)\n--\n\n"
"Count the points of the stream that fall inside the quarter circle.\n\n"
"Parameters\n----------\n"
"n : int\n    Number of points, counted from ``start``.\n"
"seed : int, optional\n    Names the stream, 0 <= seed < 2**64.\n"
"start : int, optional\n    Index of the first point; ``start + n <= 2**64``.\n\n"
"Returns\n-------\nint\n"
"    Hits among points ``[start, start + n)`` of seed ``seed``'s stream. The\n"
"    answer depends on ``(n, seed, start)`` alone, so ranges may be split\n"
"    freely: ``count_hits(a + b, s) == count_hits(a, s) +\n"
"    count_hits(b, s, start=a)``.\n\n"
"Notes\n-----\nReleases the GIL while counting, answers Ctrl-C promptly and uses\n"
"O(1) memory.\n");

typedef struct {
    mcpi_key key;
    uint64_t hits;
} count_work;

static void
count_slice(void *work, uint64_t start, uint64_t len)
{
    count_work *w = (count_work *)work;
    w->hits += mcpi_count_range(&w->key, start, len);
}

static PyObject *
count_hits(PyObject *self, PyObject *args, PyObject *kwargs)
{
    uint64_t n, seed, start;
    count_work work;

    (void)self;
    if (parse_range(args, kwargs, "O|OO:count_hits", &n, &seed, &start) < 0) {
        return NULL;
    }
    mcpi_key_init(&work.key, seed);
    work.hits = 0;
    if (run_in_slices(count_slice, &work, start, n) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(work.hits);
}

PyDoc_STRVAR(sample_points_doc,
"sample_points(n, seed=0, start=0)\n--\n\n"
"Return the points that count_hits counts, as coordinates.\n\n"
"Parameters\n----------\n"
"n, seed, start : int\n    As for `count_hits`.\n\n"
"Returns\n-------\nnumpy.ndarray\n"
"    Shape ``(n, 2)``, float64, one ``(x, y)`` row per point. Each coordinate\n"
"    is the centre ``(2t + 1) / 2**32`` of one of ``2**31`` cells of [0, 1),\n"
"    exactly representable, so ``count_inside(sample_points(n, s)) ==\n"
"    count_hits(n, s)``.\n\n"
"Raises\n------\nMemoryError\n    If the array cannot be allocated.\n");

typedef struct {
    mcpi_key key;
    uint64_t start; /* of the call: row 0 of xy */
    double *xy;
} sample_work;

static void
sample_slice(void *work, uint64_t start, uint64_t len)
{
    sample_work *w = (sample_work *)work;
    mcpi_sample_range(&w->key, start, len, w->xy + 2 * (size_t)(start - w->start));
}

static PyObject *
sample_points(PyObject *self, PyObject *args, PyObject *kwargs)
{
    uint64_t n, seed, start;
    sample_work work;
    PyArrayObject *out;

    (void)self;
    if (parse_range(args, kwargs, "O|OO:sample_points", &n, &seed, &start) < 0) {
        return NULL;
    }
    if (n > (uint64_t)(NPY_MAX_INTP / (npy_intp)(2 * sizeof(double)))) {
        return PyErr_Format(PyExc_MemoryError,
                            "sample_points: %llu points (16 bytes each) "
                            "cannot be allocated",
                            (unsigned long long)n);
    }
    npy_intp dims[2] = {(npy_intp)n, 2};
    out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_DOUBLE);
    if (out == NULL) {
        return NULL;
    }
    mcpi_key_init(&work.key, seed);
    work.start = start;
    work.xy = (double *)PyArray_DATA(out);
    if (run_in_slices(sample_slice, &work, start, n) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return (PyObject *)out;
}

PyDoc_STRVAR(count_inside_doc,
"count_inside(points, /)\n--\n\n"
"Count the rows (x, y) of an array with x**2 + y**2 < 1.\n\n"
"Parameters\n----------\n"
"points : array_like, shape (N, 2)\n"
"    Real numbers. float32 and float64 arrays, including non-contiguous\n"
"    views, are read in place; integer and float16 arrays are converted.\n\n"
"Returns\n-------\nint\n"
"    The number of rows strictly inside the unit circle. The test is exact\n"
"    (no rounding), so it agrees with `count_hits` on stream points; NaN and\n"
"    infinities are never inside.\n\n"
"Raises\n------\nTypeError\n"
"    For a masked array, passed directly, as rows of a list or tuple, or\n"
"    from an object's ``__array__``: its masked rows would be counted.\n\n"
"Notes\n-----\nReleases the GIL while counting.\n");

/* 1 if obj is a masked array (an ndarray subclass with a mask, such as
 * numpy.ma.MaskedArray and its constant numpy.ma.masked), 0 if not, -1 with
 * an exception set if the check fails. */
static int
is_masked(PyObject *obj)
{
    PyObject *mask;

    if (!PyArray_Check(obj) || PyArray_CheckExact(obj)) {
        return 0;
    }
    if ((mask = PyObject_GetAttrString(obj, "mask")) == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(mask);
    return 1;
}

/* is_masked() for obj and, down to depth levels, the items of lists and
 * tuples: the rows and coordinates NumPy reads when it makes the array. */
static int
holds_masked(PyObject *obj, int depth)
{
    const int masked = is_masked(obj);

    if (masked != 0 || depth == 0 || !(PyList_Check(obj) || PyTuple_Check(obj))) {
        return masked;
    }
    /* Items are fetched one at a time: a list may change while we look. */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(obj); i++) {
        PyObject *item = PySequence_GetItem(obj, i);
        int found;
        if (item == NULL) {
            return -1;
        }
        found = holds_masked(item, depth - 1);
        Py_DECREF(item);
        if (found != 0) {
            return found;
        }
    }
    return 0;
}

/* Refuses masked arrays: the kernel reads the data under the mask. */
static int
refuse_masked(int masked)
{
    if (masked > 0) {
        PyErr_SetString(PyExc_TypeError,
                        "points must not be a masked array or hold one: "
                        "count_inside would count the masked rows too; drop "
                        "them first with numpy.ma.compress_rows(points)");
    }
    return masked != 0 ? -1 : 0;
}

typedef struct {
    const char *base;
    npy_intp row_stride, col_stride;
    int single;
    uint64_t hits;
} inside_work;

static void
inside_slice(void *work, uint64_t start, uint64_t len)
{
    inside_work *w = (inside_work *)work;
    w->hits += mcpi_count_inside(w->base + (npy_intp)start * w->row_stride,
                                 (size_t)len, w->row_stride, w->col_stride,
                                 w->single);
}

static PyObject *
count_inside(PyObject *self, PyObject *points)
{
    PyArrayObject *arr = NULL;
    PyArray_Descr *descr;
    inside_work work;
    int type;

    (void)self;
    /* A masked array may come directly, as rows of a list (list(m)) or from
     * an object's __array__; look before and after NumPy makes the array,
     * which keeps the subclass. */
    if (refuse_masked(holds_masked(points, 2)) < 0) {
        return NULL;
    }
    arr = (PyArrayObject *)PyArray_FromAny(points, NULL, 0, 0, 0, NULL);
    if (arr != NULL && refuse_masked(is_masked((PyObject *)arr)) < 0) {
        goto fail;
    }
    if (arr == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError) ||
            PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "points must be an array-like of shape (N, 2), not "
                         "%.200s that NumPy cannot turn into an array",
                         Py_TYPE(points)->tp_name);
        }
        return NULL;
    }
    if (PyArray_NDIM(arr) != 2 || PyArray_DIM(arr, 1) != 2) {
        PyObject *shape = PyObject_GetAttrString((PyObject *)arr, "shape");
        if (shape != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "points must have shape (N, 2), got shape %S", shape);
            Py_DECREF(shape);
        }
        goto fail;
    }
    type = PyArray_TYPE(arr);
    if (!(PyTypeNum_ISINTEGER(type) || type == NPY_HALF || type == NPY_FLOAT ||
          type == NPY_DOUBLE)) {
        PyErr_Format(PyExc_TypeError,
                     "points must hold real numbers (float32 or float64), "
                     "not %S",
                     (PyObject *)PyArray_DESCR(arr));
        goto fail;
    }
    /* Read float32 and float64 in place; convert the rest, and byte-swapped
     * or misaligned data, to aligned native float64 or float32. */
    type = type == NPY_FLOAT ? NPY_FLOAT : NPY_DOUBLE;
    descr = PyArray_DescrFromType(type);
    Py_SETREF(arr, (PyArrayObject *)PyArray_FromArray(arr, descr,
                                                      NPY_ARRAY_ALIGNED));
    if (arr == NULL) {
        return NULL;
    }
    work.base = PyArray_BYTES(arr);
    work.row_stride = PyArray_STRIDE(arr, 0);
    work.col_stride = PyArray_STRIDE(arr, 1);
    work.single = type == NPY_FLOAT;
    work.hits = 0;
    if (run_in_slices(inside_slice, &work, 0, (uint64_t)PyArray_DIM(arr, 0)) < 0) {
        goto fail;
    }
    Py_DECREF(arr);
    return PyLong_FromUnsignedLongLong(work.hits);
fail:
    Py_DECREF(arr);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* SIMD paths                                                         */

PyDoc_STRVAR(simd_doc,
"simd()\n--\n\n"
"Return the name of the active SIMD path, for example ``'avx512'``.\n\n"
"The fastest usable path is active unless the environment variable\n"
"``PYMCPI_SIMD`` named another one at import. Every path gives the same\n"
"answers, bit for bit.\n");

static PyObject *
simd(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(mcpi_path_name(mcpi_path_active()));
}

PyDoc_STRVAR(simd_paths_doc,
"simd_paths()\n--\n\n"
"Return the names of the usable SIMD paths, slowest first.\n\n"
"A path is usable where this CPU and its OS support it and its kernel\n"
"passed the self-test run before its first use. ``'scalar'``, the portable\n"
"path, is always among them.\n");

/* The names of all paths, or of the usable ones, slowest first. */
static PyObject *
path_names(int usable_only)
{
    PyObject *list = PyList_New(0), *name;

    if (list == NULL) {
        return NULL;
    }
    for (int i = 0; i < mcpi_path_count(); i++) {
        if (usable_only && mcpi_path_status(i) != MCPI_PATH_USABLE) {
            continue;
        }
        name = PyUnicode_FromString(mcpi_path_name(i));
        if (name == NULL || PyList_Append(list, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(name);
    }
    return list;
}

static PyObject *
simd_paths(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return path_names(1);
}

/* The index of the path named by a str, or -1 with ValueError (naming the
 * known paths) or TypeError set. */
static int
find_path(PyObject *name_obj)
{
    const char *name;
    PyObject *names;
    int path;

    if (!PyUnicode_Check(name_obj)) {
        PyErr_Format(PyExc_TypeError, "name must be a str, not %.200s",
                     Py_TYPE(name_obj)->tp_name);
        return -1;
    }
    if ((name = PyUnicode_AsUTF8(name_obj)) == NULL) {
        return -1;
    }
    if ((path = mcpi_path_find(name)) < 0 && (names = path_names(0)) != NULL) {
        PyErr_Format(PyExc_ValueError, "unknown SIMD path %R; known paths: %S",
                     name_obj, names);
        Py_DECREF(names);
    }
    return path;
}

PyDoc_STRVAR(select_simd_doc,
"_select_simd(name)\n--\n\n"
"Make the SIMD path ``name`` active; ``PYMCPI_SIMD`` is the public way.\n\n"
"Raises ValueError if the name is unknown, the CPU cannot run it, or it\n"
"failed its self-test.\n");

static PyObject *
select_simd(PyObject *self, PyObject *name_obj)
{
    PyObject *names;
    int path, status;

    (void)self;
    if ((path = find_path(name_obj)) < 0) {
        return NULL;
    }
    if ((status = mcpi_path_select(path)) == MCPI_PATH_USABLE) {
        Py_RETURN_NONE;
    }
    if ((names = path_names(1)) != NULL) {
        PyErr_Format(PyExc_ValueError,
                     status == MCPI_PATH_FAILED
                         ? "SIMD path %R failed its self-test on this machine "
                           "(its kernel disagrees with the scalar kernel), so "
                           "it is not used; usable paths: %S"
                         : "SIMD path %R is not supported by this CPU; usable "
                           "paths: %S",
                     name_obj, names);
        Py_DECREF(names);
    }
    return NULL;
}

PyDoc_STRVAR(self_test_doc,
"_self_test(name)\n--\n\n"
"Run the self-test of SIMD path ``name`` again and return whether it\n"
"passed: its kernel against the scalar kernel's answers on a few blocks.\n"
"False where the CPU cannot run the path. For tests and the benchmark.\n");

static PyObject *
self_test(PyObject *self, PyObject *name_obj)
{
    int path;

    (void)self;
    if ((path = find_path(name_obj)) < 0) {
        return NULL;
    }
    return PyBool_FromLong(mcpi_path_self_test(path));
}

PyDoc_STRVAR(yardstick_doc,
"_yardstick(name, n)\n--\n\n"
"Benchmark yardstick of the vector path ``name``: count n points (rounded\n"
"up to a whole round of lanes) with a plain loop of the stream's generator,\n"
"one output per point, the same cells and exact test, on the path's\n"
"instruction set, with no blocks. Returns the hits, or None where the path\n"
"has no yardstick (scalar) or the CPU cannot run it. Not part of the\n"
"stream. Releases the GIL and answers Ctrl-C as count_hits does.\n");

typedef struct {
    mcpi_yardstick yardstick;
    uint64_t hits;
} yardstick_work;

static void
yardstick_slice(void *work, uint64_t start, uint64_t len)
{
    yardstick_work *w = (yardstick_work *)work;
    w->hits += mcpi_yardstick_count(&w->yardstick, start, len);
}

static PyObject *
yardstick(PyObject *self, PyObject *args)
{
    PyObject *name_obj, *n_obj;
    yardstick_work work;
    uint64_t n;
    int path;

    (void)self;
    if (!PyArg_ParseTuple(args, "OO:_yardstick", &name_obj, &n_obj) ||
        (path = find_path(name_obj)) < 0 || as_u64(n_obj, "n", &n) < 0) {
        return NULL;
    }
    if (!mcpi_yardstick_init(&work.yardstick, path)) {
        Py_RETURN_NONE;
    }
    work.hits = 0;
    if (run_in_slices(yardstick_slice, &work, 0, n) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(work.hits);
}

/* ------------------------------------------------------------------ */
/* Module                                                             */

static PyMethodDef methods[] = {
    {"count_hits", (PyCFunction)(void (*)(void))count_hits,
     METH_VARARGS | METH_KEYWORDS, count_hits_doc},
    {"sample_points", (PyCFunction)(void (*)(void))sample_points,
     METH_VARARGS | METH_KEYWORDS, sample_points_doc},
    {"count_inside", count_inside, METH_O, count_inside_doc},
    {"_check_range", (PyCFunction)(void (*)(void))check_range,
     METH_VARARGS | METH_KEYWORDS, check_range_doc},
    {"simd", simd, METH_NOARGS, simd_doc},
    {"simd_paths", simd_paths, METH_NOARGS, simd_paths_doc},
    {"_select_simd", select_simd, METH_O, select_simd_doc},
    {"_self_test", self_test, METH_O, self_test_doc},
    {"_yardstick", yardstick, METH_VARARGS, yardstick_doc},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    /* Settle the default path before any thread runs, and self-test every
     * path this CPU supports now, so that a failure is reported at once. */
    (void)mcpi_path_active();
    for (int i = 0; i < mcpi_path_count(); i++) {
        if (mcpi_path_status(i) == MCPI_PATH_FAILED &&
            PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                             "pymcpi: SIMD path '%s' failed its self-test on "
                             "this machine (its kernel disagrees with the "
                             "scalar kernel) and is not used; using '%s'",
                             mcpi_path_name(i),
                             mcpi_path_name(mcpi_path_active())) < 0) {
            return -1;
        }
    }
    return PyModule_AddIntConstant(module, "BLOCK", MCPI_BLOCK);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"The C core of pymcpi: the point stream, its kernels and their dispatch.");

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pymcpi._core",
    .m_doc = module_doc,
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&moduledef);
}
