/*
 * heap_strings: header strings that end at the last byte of their heap
 * allocation, of every length from 0 to 70 bytes at every offset from a
 * 16-byte boundary, ASCII and not, through flume_client_append_batch and
 * flume_client_send. The library measures header strings with aligned loads
 * that may reach past a string's end (never past its aligned 16-byte block);
 * run under valgrind (heap_strings_valgrind), a load or a branch on the bytes
 * past an allocation is an error. Every event must arrive exactly, and a
 * string whose last byte is a truncated UTF-8 sequence must be refused with
 * FLUME_ERR_INVALID_ARG before anything of its call is sent.
 *
 *   heap_strings    (through run_with_receiver.sh)
 */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

#define MAX_LEN 70
#define OFFSETS 16
#define EVENTS ((MAX_LEN + 1) * OFFSETS)

/* A heap copy of `s` (len bytes) that ends at the last byte of its
 * allocation, at offset `off` from the allocation's start (malloc returns
 * 16-byte aligned blocks on x86-64 glibc). *block gets what to free. */
static char *at_the_end(const char *s, size_t len, size_t off, char **block) {
  *block = malloc(off + len + 1);
  CHECK(*block != NULL);
  memset(*block, 0x7f, off); /* defined bytes before the string, none after */
  memcpy(*block + off, s, len + 1);
  return *block + off;
}

/* The value of event i: `len` letters, the last two "é" when not ascii. */
static size_t value_of(size_t i, int ascii, char *out) {
  size_t len = i / OFFSETS;
  for (size_t j = 0; j < len; j++) out[j] = (char)('a' + (i + j) % 26);
  if (!ascii && len >= 2) memcpy(out + len - 2, "\xc3\xa9", 2);
  out[len] = '\0';
  return len;
}

struct events {
  flume_header headers[EVENTS];
  flume_event events[EVENTS];
  char *blocks[2 * EVENTS];
};

static void make_events(struct events *e, int ascii) {
  for (size_t i = 0; i < EVENTS; i++) {
    char key[32], value[MAX_LEN + 1];
    size_t key_len = (size_t)snprintf(key, sizeof key, "k%zu", i);
    size_t len = value_of(i, ascii, value);
    e->headers[i].key = at_the_end(key, key_len, (i + 7) % OFFSETS, &e->blocks[2 * i]);
    e->headers[i].value = at_the_end(value, len, i % OFFSETS, &e->blocks[2 * i + 1]);
    e->events[i] = (flume_event){&e->headers[i], 1, "b", 1};
  }
}

static void free_events(struct events *e) {
  for (size_t i = 0; i < 2 * EVENTS; i++) free(e->blocks[i]);
}

/* The receiver's line for event i. */
static char *expected_line(size_t i, int ascii) {
  char value[MAX_LEN + 1];
  value_of(i, ascii, value);
  char *line = malloc(64 + MAX_LEN);
  CHECK(line != NULL);
  snprintf(line, 64 + MAX_LEN, "{\"headers\":{\"k%zu\":\"%s\"},\"body\":\"b\"}", i, value);
  return line;
}

static size_t reports_ok;
static void on_report(void *opaque, flume_result result, const char *message, void *user) {
  (void)opaque, (void)message, (void)user;
  if (result == FLUME_OK) reports_ok++;
}

int main(void) {
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");
  static struct events ascii_events, utf8_events;
  make_events(&ascii_events, 1);
  make_events(&utf8_events, 0);

  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, on_report, NULL), FLUME_OK, NULL);
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(client != NULL);

  /* A truncated "é" at the very end of a value: refused, nothing sent. */
  char *bad_block;
  flume_header bad_header = {"k", at_the_end("ab\xc3", 3, 13, &bad_block)};
  flume_event bad_then_good[2] = {{&bad_header, 1, "b", 1}, ascii_events.events[0]};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, bad_then_good, 2, &delivered), FLUME_ERR_INVALID_ARG,
             "UTF-8");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_send(client, &bad_then_good[0], NULL), FLUME_ERR_INVALID_ARG, "UTF-8");
  free(bad_block);

  /* Every length at every offset, synchronously and queued. */
  CHECK_CODE(flume_client_append_batch(client, ascii_events.events, EVENTS, &delivered), FLUME_OK, NULL);
  CHECK(delivered == EVENTS);
  CHECK_CODE(flume_client_append_batch(client, utf8_events.events, EVENTS, &delivered), FLUME_OK, NULL);
  CHECK(delivered == EVENTS);
  for (size_t i = 0; i < EVENTS; i++) CHECK_CODE(flume_client_send(client, &ascii_events.events[i], NULL), FLUME_OK, NULL);
  for (size_t i = 0; i < EVENTS; i++) CHECK_CODE(flume_client_send(client, &utf8_events.events[i], NULL), FLUME_OK, NULL);
  CHECK_CODE(flume_client_flush(client, 30000), FLUME_OK, NULL);
  CHECK(reports_ok == 2 * EVENTS);
  flume_client_free(client);
  free_events(&ascii_events);
  free_events(&utf8_events);

  static const char *expected[4 * EVENTS];
  for (size_t round = 0; round < 4; round++)
    for (size_t i = 0; i < EVENTS; i++) expected[round * EVENTS + i] = expected_line(i, round % 2 == 0);
  check_file_lines(output, expected, 4 * EVENTS);
  for (size_t i = 0; i < 4 * EVENTS; i++) free((char *)expected[i]);
  printf("heap_strings: %d checks passed\n", test_checks);
  return 0;
}
