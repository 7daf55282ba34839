/*
 * Everything compiler-specific about the x86 vector paths, in one place.
 *
 * MCPI_X86 is defined where the vector kernels are compiled, with:
 *   MCPI_TARGET(isa)  before a function whose body uses isa's intrinsics;
 *   mcpi_cpuid()      one CPUID leaf, if the CPU has it;
 *   mcpi_xgetbv0()    XCR0, the register state the OS saves.
 *
 * GCC and Clang (clang-cl too) need a target attribute on every function
 * that uses an instruction set beyond the build's baseline.  MSVC accepts
 * AVX2 and AVX-512 intrinsics in any function, so there the macro is empty;
 * it must not be given /arch:AVX2 or /arch:AVX512 for the whole build, which
 * would let it use those instructions anywhere, before the CPU is checked.
 * 32-bit and ARM64EC builds with MSVC run the scalar path only.
 */
#ifndef MCPI_CPU_H
#define MCPI_CPU_H

#include <stdint.h>

#if (defined(__x86_64__) || defined(__i386__)) &&                             \
    (defined(__GNUC__) || defined(__clang__))
#define MCPI_X86 1
#define MCPI_TARGET(isa) __attribute__((target(isa)))
#include <cpuid.h>

static inline int
mcpi_cpuid(unsigned leaf, unsigned subleaf, unsigned reg[4])
{
    /* 0 if leaf is above the CPU's highest leaf. */
    return __get_cpuid_count(leaf, subleaf, &reg[0], &reg[1], &reg[2], &reg[3]);
}

static inline uint64_t
mcpi_xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#elif defined(_MSC_VER) && defined(_M_X64) && !defined(_M_ARM64EC)
#define MCPI_X86 1
#define MCPI_TARGET(isa)
#include <immintrin.h> /* _xgetbv */
#include <intrin.h>    /* __cpuid, __cpuidex */

static inline int
mcpi_cpuid(unsigned leaf, unsigned subleaf, unsigned reg[4])
{
    int max[4], out[4];
    __cpuid(max, (int)(leaf & 0x80000000u)); /* the highest basic or extended leaf */
    if ((unsigned)max[0] < leaf) {
        return 0;
    }
    __cpuidex(out, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) {
        reg[i] = (unsigned)out[i];
    }
    return 1;
}

static inline uint64_t
mcpi_xgetbv0(void)
{
    return _xgetbv(0);
}
#endif

#endif
