/*
 * shared_headers: events of one call that share their headers. The library
 * encodes the headers of a call's events once when every event points to
 * one flume_header array, or to arrays of the same pointers, and copies the
 * bytes for the others. Every event must arrive with its own body and the
 * shared headers (several, one above ASCII); events that share all but one
 * header, or whose last event has an array of its own, must arrive as they
 * are; a shared header of invalid UTF-8 is refused as the first event's
 * (FLUME_ERR_INVALID_ARG, "event 0", nothing sent); and a batch larger than
 * batch-size, whose later calls start with an event of their own, arrives
 * whole.
 *
 *   shared_headers    (through run_with_receiver.sh)
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "test_util.h"

#define COUNT 50

static flume_header shared[3] = {{"host", "web-17"}, {"cl\xc3\xa9", "v\xc3\xa4lue"}, {"topic", "clicks"}};
static flume_header own[COUNT][3];
static flume_event events[COUNT];
static char bodies[COUNT][16];
static char *expected[8 * COUNT];
static size_t lines;

/* Expects the events just sent, as the receiver prints them. */
static void expect(size_t count) {
  for (size_t i = 0; i < count; i++) {
    char line[512];
    int n = snprintf(line, sizeof line, "{\"headers\":{");
    for (size_t h = 0; h < events[i].header_count; h++)
      n += snprintf(line + n, sizeof line - (size_t)n, "%s\"%s\":\"%s\"", h ? "," : "", events[i].headers[h].key,
                    events[i].headers[h].value);
    snprintf(line + n, sizeof line - (size_t)n, "},\"body\":\"%s\"}", bodies[i]);
    expected[lines++] = strdup(line);
  }
}

static void send_batch(flume_client *client, size_t count) {
  size_t delivered = 0;
  CHECK_CODE(flume_client_append_batch(client, events, count, &delivered), FLUME_OK, NULL);
  CHECK(delivered == count);
  expect(count);
}

int main(void) {
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  CHECK_CODE(flume_config_set(conf, "batch-size", "20"), FLUME_OK, NULL);
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(client != NULL);
  for (size_t i = 0; i < COUNT; i++) {
    snprintf(bodies[i], sizeof bodies[i], "event %zu", i);
    memcpy(own[i], shared, sizeof shared);
    events[i] = (flume_event){shared, 3, bodies[i], strlen(bodies[i])};
  }

  /* One array for all: 20 events, then 50 (three calls of batch-size 20). */
  send_batch(client, 20);
  send_batch(client, COUNT);
  /* Arrays of their own, of the same pointers. */
  for (size_t i = 0; i < COUNT; i++) events[i].headers = own[i];
  send_batch(client, COUNT);
  /* The same pointers but for the last event's value of "topic". */
  own[COUNT - 1][2].value = "views";
  send_batch(client, 20);
  send_batch(client, COUNT);
  /* All but the last event on the shared array; the last with fewer headers. */
  for (size_t i = 0; i < COUNT; i++) events[i] = (flume_event){shared, 3, bodies[i], strlen(bodies[i])};
  events[COUNT - 1].header_count = 2;
  send_batch(client, COUNT);
  /* A shared array of no headers. */
  for (size_t i = 0; i < COUNT; i++) events[i].header_count = 0;
  send_batch(client, 30);

  /* Invalid UTF-8 in the shared array: the first event is named, nothing sent. */
  flume_header bad[2] = {{"host", "web-17"}, {"k", "ab\xc3"}};
  for (size_t i = 0; i < COUNT; i++) events[i] = (flume_event){bad, 2, bodies[i], strlen(bodies[i])};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, events, COUNT, &delivered), FLUME_ERR_INVALID_ARG, "event 0");
  CHECK(delivered == 0);
  /* A NULL value in it: the same. */
  bad[1].value = NULL;
  CHECK_CODE(flume_client_append_batch(client, events, COUNT, &delivered), FLUME_ERR_INVALID_ARG, "event 0");
  CHECK(delivered == 0);

  flume_client_free(client);
  check_file_lines(output, (const char *const *)expected, lines);
  for (size_t i = 0; i < lines; i++) free(expected[i]);
  printf("shared_headers: %d checks passed\n", test_checks);
  return 0;
}
