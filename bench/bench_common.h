/*
 * Shared by the benchmark's C and C++ clients (bench_flume.c, bench_thrift.cpp):
 * the events every client sends (the same as bench/src/lib.rs), the timed loop,
 * the measures (events, client CPU time from getrusage(RUSAGE_SELF), call
 * latency, heap allocations) and the JSON line each run prints.

 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the events ---------------------------------------------------------- */

#define BENCH_HEADER_COUNT 3
static const char *const bench_header_keys[BENCH_HEADER_COUNT] = {"host", "topic", "timestamp"};
static const char *const bench_header_values[BENCH_HEADER_COUNT] = {"web-17.example.com", "clicks",
                                                                    "1718000000000"};

/* `count` bodies of `len` bytes each, one after the other (each event has its own
 * memory, as real events do): byte i of each is 'a' + i % 26. */
static char *bench_bodies(size_t count, size_t len) {
  char *bodies = (char *)malloc(count * len + 1);
  if (!bodies) {
    perror("malloc");
    exit(1);
  }
  for (size_t e = 0; e < count; e++)
    for (size_t i = 0; i < len; i++) bodies[e * len + i] = (char)('a' + i % 26);
  return bodies;
}

/* ---- heap allocation counting ------------------------------------------- */

/* Defined in alloc_count.c (C, so its malloc matches glibc's declaration in C++ too). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern volatile int bench_counting;
extern unsigned long bench_allocations;

/* ---- timing --------------------------------------------------------------- */

static double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double bench_cpu_seconds(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  return *user + *sys;
}

static int bench_cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* What one run is: set from the command line by each client. */
struct bench_run {
  const char *client;   /* flume | floor | thrift-cpp */
  const char *server;   /* null | java (a label for the output only) */
  const char *protocol; /* compact | binary */
  size_t batch;
  size_t body;
  double warmup; /* seconds */
  double seconds;
};

/* Calls `call(ctx)` (one call of `run->batch` events; returns 0 on success) for
 * run->warmup seconds, then for run->seconds measuring, and prints one JSON line. */
static int bench_loop(const struct bench_run *run, int (*call)(void *), void *ctx) {
  const size_t max_samples = (size_t)1 << 22;
  float *lat = (float *)__libc_malloc(max_samples * sizeof(float));
  if (!lat) {
    perror("malloc");
    return 1;
  }
  memset(lat, 0, max_samples * sizeof(float)); /* fault the pages in before measuring */

  double end = bench_now() + run->warmup;
  while (bench_now() < end)
    if (call(ctx) != 0) return 1;

  double u0, s0, u1, s1;
  bench_allocations = 0;
  double cpu0 = bench_cpu_seconds(&u0, &s0);
  double t0 = bench_now(), t = t0;
  end = t0 + run->seconds;
  size_t calls = 0;
  bench_counting = 1;
  while (t < end) {
    if (call(ctx) != 0) return 1;
    double t1 = bench_now();
    if (calls < max_samples) lat[calls] = (float)((t1 - t) * 1e6);
    calls++;
    t = t1;
  }
  bench_counting = 0;
  double elapsed = t - t0;
  double cpu = bench_cpu_seconds(&u1, &s1) - cpu0;
  unsigned long allocs = bench_allocations;

  size_t n = calls < max_samples ? calls : max_samples;
  qsort(lat, n, sizeof(float), bench_cmp_float);
  double p50 = n ? lat[n / 2] : 0, p99 = n ? lat[(size_t)((double)n * 0.99)] : 0;
  double events = (double)calls * (double)run->batch;
  printf("{\"kind\":\"net\",\"client\":\"%s\",\"server\":\"%s\",\"protocol\":\"%s\",\"batch\":%zu,"
         "\"body\":%zu,\"calls\":%zu,\"seconds\":%.4f,\"events_per_s\":%.1f,\"cpu_us_per_event\":%.4f,"
         "\"user_us_per_event\":%.4f,\"sys_us_per_event\":%.4f,\"cpu_util\":%.3f,"
         "\"p50_us\":%.2f,\"p99_us\":%.2f,\"allocs_per_call\":%.3f}\n",
         run->client, run->server, run->protocol, run->batch, run->body, calls, elapsed,
         events / elapsed, cpu * 1e6 / events, (u1 - u0) * 1e6 / events, (s1 - s0) * 1e6 / events,
         cpu / elapsed, p50, p99, calls ? (double)allocs / (double)calls : 0.0);
  fflush(stdout);
  __libc_free(lat);
  return 0;
}

/* argv: CLIENT-SPECIFIC... SERVER PROTOCOL BATCH BODY WARMUP SECONDS */
static void bench_parse(struct bench_run *run, const char *client, char **argv) {
  run->client = client;
  run->server = argv[0];
  run->protocol = argv[1];
  run->batch = strtoul(argv[2], NULL, 10);
  run->body = strtoul(argv[3], NULL, 10);
  run->warmup = atof(argv[4]);
  run->seconds = atof(argv[5]);
  if (run->batch == 0 || (strcmp(run->protocol, "compact") != 0 && strcmp(run->protocol, "binary") != 0)) {
    fprintf(stderr, "bad arguments\n");
    exit(2);
  }
}

#ifdef __cplusplus
}
#endif

#endif
