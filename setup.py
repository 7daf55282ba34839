"""Build the C extension pymcpi._core; the metadata lives in pyproject.toml."""

import sys

import numpy
from setuptools import Extension, setup

# Portable flags only: no -march=native, /arch:AVX2 or global -mavx2, so a
# wheel built here runs on any CPU of its architecture; faster paths are
# compiled function by function and chosen at run time (csrc/cpu.h,
# csrc/dispatch.c).  -ffp-contract=off: every multiply and add is rounded on
# its own, as on any other platform.
if sys.platform == "win32":
    compile_args = ["/O2", "/fp:precise"]
else:
    compile_args = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-strict-aliasing",
                    "-Wall", "-Wextra"]

core = Extension(
    "pymcpi._core",
    sources=[
        "csrc/module.c",
        "csrc/range.c",
        "csrc/dispatch.c",
        "csrc/kernel_scalar.c",
        "csrc/kernel_avx2.c",
        "csrc/kernel_avx512.c",
        "csrc/inside.c",
    ],
    depends=["csrc/mcpi.h", "csrc/dispatch.h", "csrc/kernels.h", "csrc/cpu.h",
             "csrc/stream.h"],
    include_dirs=[numpy.get_include()],
    define_macros=[
        # Matches the runtime lower bound numpy>=2.0 in pyproject.toml.
        ("NPY_TARGET_VERSION", "NPY_2_0_API_VERSION"),
        ("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION"),
    ],
    extra_compile_args=compile_args,
)

setup(ext_modules=[core])
