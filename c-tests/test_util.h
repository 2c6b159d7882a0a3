/*
 * Small helpers shared by the C tests. Checks never use assert(): a release
 * build (NDEBUG) must check as much as a debug one. A failed check prints where
 * and why, then exits 1.
 */
#ifndef FLUME_TEST_UTIL_H
#define FLUME_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flume_client.h>

static int test_checks = 0;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    test_checks++;                                                                   \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n  flume_last_error: %s\n", __FILE__, \
              __LINE__, #cond, flume_last_error());                                  \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* Checks that `call` returns `expected` and, for a failure, that
 * flume_last_error() is non-empty and mentions `needle` (when not NULL), which
 * shows the message was written by this call and not left from an earlier one. */
#define CHECK_CODE(call, expected, needle) \
  check_code_at(__FILE__, __LINE__, #call, (call), (expected), (needle))

static inline void check_code_at(const char *file, int line, const char *what, flume_result got,
                          flume_result expected, const char *needle) {
  test_checks++;
  const char *detail = flume_last_error();
  if (detail == NULL) {
    fprintf(stderr, "%s:%d: %s: flume_last_error() returned NULL\n", file, line, what);
    exit(1);
  }
  if (got != expected) {
    fprintf(stderr, "%s:%d: %s\n  returned %u (%s)\n  expected %u (%s)\n  flume_last_error: %s\n",
            file, line, what, got, flume_result_str(got), expected, flume_result_str(expected),
            detail);
    exit(1);
  }
  if (expected != FLUME_OK) {
    if (detail[0] == '\0') {
      fprintf(stderr, "%s:%d: %s: returned %s but flume_last_error() is empty\n", file, line,
              what, flume_result_str(got));
      exit(1);
    }
    if (needle != NULL && strstr(detail, needle) == NULL) {
      fprintf(stderr, "%s:%d: %s: flume_last_error() does not mention \"%s\": %s\n", file, line,
              what, needle, detail);
      exit(1);
    }
  }
}

/* An environment variable the test cannot run without. */
static inline const char *required_env(const char *name) {
  const char *value = getenv(name);
  if (value == NULL || value[0] == '\0') {
    fprintf(stderr, "%s is not set: run this test through c-tests/run_with_receiver.sh\n", name);
    exit(1);
  }
  return value;
}

/* The whole content of a file, NUL-terminated; free() it. Exits if unreadable. */
static inline char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) {
      cap *= 2;
      char *bigger = realloc(buf, cap);
      CHECK(bigger != NULL);
      buf = bigger;
    }
  }
  CHECK(!ferror(f));
  fclose(f);
  buf[len] = '\0';
  if (len_out != NULL) *len_out = len;
  return buf;
}

/* Checks that the file at `path` holds exactly the `count` lines of `expected`. */
static inline void check_file_lines(const char *path, const char *const *expected, size_t count) {
  char *content = read_file(path, NULL);
  const char *p = content;
  size_t i = 0;
  while (*p != '\0') {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (i >= count) {
      fprintf(stderr, "%s: unexpected line %zu: %.*s\n", path, i + 1, (int)len, p);
      exit(1);
    }
    if (len != strlen(expected[i]) || memcmp(p, expected[i], len) != 0) {
      fprintf(stderr, "%s: line %zu is\n  %.*s\nexpected\n  %s\n", path, i + 1, (int)len, p,
              expected[i]);
      exit(1);
    }
    i++;
    p = end ? end + 1 : p + len;
  }
  if (i != count) {
    fprintf(stderr, "%s: %zu lines, expected %zu (next expected: %s)\n", path, i, count,
            expected[i]);
    exit(1);
  }
  test_checks++;
  free(content);
}

/* Number of lines in the file at `path`. */
static inline size_t count_lines(const char *path) {
  char *content = read_file(path, NULL);
  size_t n = 0;
  for (const char *p = content; *p; p++) n += *p == '\n';
  free(content);
  return n;
}

#endif /* FLUME_TEST_UTIL_H */
