/*
 * Counts heap allocations for the benchmark's clients: malloc and friends are
 * interposed in the executable (linked with -rdynamic), so the calls made by
 * libflume_client.so or libthrift.so (operator new included) land here first
 * and are forwarded to glibc's __libc_* functions. Counted only while
 * bench_counting is set (the measured loop of bench_common.h).
 */
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

volatile int bench_counting;
unsigned long bench_allocations;

#define BENCH_NOTE_ALLOC() \
  do {                     \
    if (bench_counting) __atomic_fetch_add(&bench_allocations, 1, __ATOMIC_RELAXED); \
  } while (0)

void *malloc(size_t n) {
  BENCH_NOTE_ALLOC();
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  BENCH_NOTE_ALLOC();
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  BENCH_NOTE_ALLOC();
  return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) {
  BENCH_NOTE_ALLOC();
  return __libc_memalign(a, n);
}
void *aligned_alloc(size_t a, size_t n) {
  BENCH_NOTE_ALLOC();
  return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n) {
  BENCH_NOTE_ALLOC();
  void *p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

