/*
 * threads: N threads share one client and send M events in total to the
 * receiver (run_with_receiver.sh). Checks that every event arrived exactly
 * once and that the client never opened more than maxConnections connections.
 * ctest runs it with 16 threads and 1,000,000 events, and under helgrind
 * (which must report no race) with fewer events.
 *
 * usage: threads THREADS EVENTS
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flume_client.h"

#define MAX_CONNECTIONS 5
#define PER_CALL 500

static flume_client *client;
static size_t thread_count, event_count;

static void die(const char *what) {
  fprintf(stderr, "threads: %s\n", what);
  exit(1);
}

static void *send_share(void *arg) {
  size_t t = (size_t)arg;
  static const flume_header headers[] = {{"host", "threads-test"}, {"kind", "load"}};
  flume_event events[PER_CALL];
  char bodies[PER_CALL][24];
  /* Thread t sends the ids t, t + threads, t + 2 * threads, ... */
  size_t next = t;
  while (next < event_count) {
    size_t n = 0;
    for (; n < PER_CALL && next < event_count; n++, next += thread_count) {
      int len = snprintf(bodies[n], sizeof bodies[n], "id-%zu", next);
      events[n] = (flume_event){headers, 2, bodies[n], (size_t)len};
    }
    size_t delivered = 0;
    flume_result r = flume_client_append_batch(client, events, n, &delivered);
    if (r != FLUME_OK || delivered != n) {
      fprintf(stderr, "threads: thread %zu: %s (%zu of %zu): %s\n", t, flume_result_str(r), delivered, n,
              flume_last_error());
      exit(1);
    }
  }
  return NULL;
}

/* The number after "key": in the stats JSON. */
static long long json_number(const char *json, const char *key) {
  const char *at = strstr(json, key);
  if (!at) die("stats JSON lacks a key");
  return atoll(at + strlen(key));
}

int main(int argc, char **argv) {
  if (argc != 3) die("usage: threads THREADS EVENTS");
  thread_count = strtoul(argv[1], NULL, 10);
  event_count = strtoul(argv[2], NULL, 10);
  const char *hosts = getenv("FLUME_TEST_HOSTS"), *output = getenv("FLUME_TEST_OUTPUT");
  if (!hosts || !output || thread_count == 0 || thread_count > 256) die("bad arguments or environment");

  flume_config *conf = flume_config_new();
  if (flume_config_set(conf, "maxConnections", "5") != FLUME_OK) die(flume_last_error());
  client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  if (!client) die(flume_last_error());

  pthread_t threads[256];
  for (size_t t = 0; t < thread_count; t++)
    if (pthread_create(&threads[t], NULL, send_share, (void *)t) != 0) die("pthread_create");
  for (size_t t = 0; t < thread_count; t++) pthread_join(threads[t], NULL);

  char *stats = flume_client_stats_json(client);
  if (!stats) die(flume_last_error());
  long long acked = json_number(stats, "\"events_acked\":");
  long long connects = json_number(stats, "\"connects\":");
  flume_string_free(stats);
  flume_client_free(client);
  if (acked != (long long)event_count) die("events_acked differs from the events sent");
  if (connects < 1 || connects > MAX_CONNECTIONS) die("more connections than maxConnections were opened");

  /* Every id exactly once in the receiver's output. */
  unsigned char *seen = calloc(event_count, 1);
  FILE *f = fopen(output, "r");
  if (!seen || !f) die("cannot read the receiver's output");
  char line[512];
  size_t lines = 0;
  while (fgets(line, sizeof line, f)) {
    const char *body = strstr(line, "\"body\":\"id-");
    if (!body) die("an event without an id arrived");
    size_t id = strtoul(body + strlen("\"body\":\"id-"), NULL, 10);
    if (id >= event_count || seen[id]++) die("an unknown or repeated id arrived");
    lines++;
  }
  fclose(f);
  free(seen);
  if (lines != event_count) die("events are missing at the receiver");
  printf("threads: %zu threads sent %zu events, each received once, over %lld connections\n", thread_count,
         event_count, connects);
  return 0;
}
