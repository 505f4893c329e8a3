#pragma once
// glibc's malloc tuning (`mallopt(3)`): `<malloc.h>` is not part of the Glibc module Swift imports, and
// M_MMAP_THRESHOLD is a macro, so both come in through this typed wrapper.
#if defined(__linux__)
#include <malloc.h>  // also defines __GLIBC__ (through <features.h>) when the C library is glibc
#endif

#if defined(__GLIBC__)
/// Sets glibc's mmap threshold to a fixed `bytes` (which also turns its dynamic adjustment off); returns 1 on success.
static inline int cmalloc_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
#else
/// Not glibc: nothing to tune; returns 0.
static inline int cmalloc_set_mmap_threshold(int bytes) { (void)bytes; return 0; }
#endif
