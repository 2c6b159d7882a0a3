/*
 * heap_strings: header strings that end at the last byte of their heap
 * allocation, of every length from 0 to 70 bytes at every offset from a
 * 16-byte boundary, ASCII and not, through flume_client_append_batch and
 * flume_client_send. The library measures header strings with aligned loads
 * that may reach past a string's end (never past its aligned 16-byte block);
 * run under valgrind (heap_strings_valgrind), a load or a branch on the bytes
 * past an allocation is an error. Then the same strings against inaccessible
 * pages: ending at the last byte of a page followed by a PROT_NONE page, and
 * starting at the first byte of a page after one (a load past the block
 * would fault). Every event must arrive exactly, and a string whose last
 * byte is a truncated UTF-8 sequence must be refused with
 * FLUME_ERR_INVALID_ARG before anything of its call is sent.
 *
 *   heap_strings    (through run_with_receiver.sh)
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include <sys/mman.h>
#include <unistd.h>

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

/* The value of event i: i / OFFSETS letters, the last two "é" when not ascii. */
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

/* Three pages, the first and last PROT_NONE. */
static char *guarded_page(size_t page) {
  char *map = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(map != MAP_FAILED);
  CHECK(mprotect(map, page, PROT_NONE) == 0);
  CHECK(mprotect(map + 2 * page, page, PROT_NONE) == 0);
  return map + page;
}

#define GUARDED (2 * (MAX_LEN + 1))

/* A value of each length from 0 to MAX_LEN ending at the last byte of a
 * page before a guard page, and one starting at the first byte of a page
 * after one, sent with append_batch; `expected` gets the receiver's lines. */
static void send_against_guard_pages(flume_client *client, char **expected) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  static flume_header headers[GUARDED];
  static flume_event events[GUARDED];
  char *pages[GUARDED];
  for (size_t n = 0; n < GUARDED; n++) {
    size_t len = n / 2;
    int at_end = n % 2 == 0;
    char value[MAX_LEN + 1];
    value_of(len * OFFSETS, 1, value);
    pages[n] = guarded_page(page);
    char *s = at_end ? pages[n] + page - (len + 1) : pages[n];
    memcpy(s, value, len + 1);
    headers[n] = (flume_header){at_end ? "end" : "start", s};
    events[n] = (flume_event){&headers[n], 1, "b", 1};
    expected[n] = malloc(64 + MAX_LEN);
    CHECK(expected[n] != NULL);
    snprintf(expected[n], 64 + MAX_LEN, "{\"headers\":{\"%s\":\"%s\"},\"body\":\"b\"}", headers[n].key, value);
  }
  size_t delivered = 0;
  CHECK_CODE(flume_client_append_batch(client, events, GUARDED, &delivered), FLUME_OK, NULL);
  CHECK(delivered == GUARDED);
  for (size_t n = 0; n < GUARDED; n++) CHECK(munmap(pages[n] - page, 3 * page) == 0);
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
  free_events(&ascii_events);
  free_events(&utf8_events);

  static char *expected[4 * EVENTS + GUARDED];
  for (size_t round = 0; round < 4; round++)
    for (size_t i = 0; i < EVENTS; i++) expected[round * EVENTS + i] = expected_line(i, round % 2 == 0);
  send_against_guard_pages(client, expected + 4 * EVENTS);
  flume_client_free(client);
  check_file_lines(output, (const char *const *)expected, 4 * EVENTS + GUARDED);
  for (size_t i = 0; i < 4 * EVENTS + GUARDED; i++) free(expected[i]);
  printf("heap_strings: %d checks passed\n", test_checks);
  return 0;
}
