/*
 * spool: the durable send queue (queue.spool.dir) through the C API (run by
 * run_with_receiver.sh).
 *
 *   spool EVENTS FSYNC
 *
 * 1. A spooled client of a port where nothing listens accepts EVENTS events
 *    with flume_client_send(); flume_client_free() (close-timeout 100 ms)
 *    leaves them on disk and reports none of them.
 * 2. A second client on the same directory, of the receiver: a third one is
 *    refused (NULL, FLUME_ERR_CONFIG naming this process); the replayed events
 *    are each reported once, FLUME_OK, with opaque NULL; EVENTS new ones with
 *    their opaques; flume_client_flush() waits for all; the statistics count
 *    the replayed events; the receiver got each event exactly once.
 * 3. flume_result_str(FLUME_ERR_SPOOL) names the code.
 *
 * ctest runs it plainly, under valgrind memcheck and built with ASan+UBSan.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "test_util.h"

static atomic_size_t replayed_ok, own_ok, bad_reports;
static size_t event_count;

static void on_report(void *opaque, flume_result result, const char *message, void *user) {
  (void)user;
  if (result != FLUME_OK || message == NULL || message[0] != '\0') {
    atomic_fetch_add(&bad_reports, 1);
  } else if (opaque == NULL) {
    atomic_fetch_add(&replayed_ok, 1);
  } else if ((uintptr_t)opaque <= event_count) {
    atomic_fetch_add(&own_ok, 1);
  } else {
    atomic_fetch_add(&bad_reports, 1);
  }
}

static flume_client *spooled_client(const char *hosts, const char *dir, const char *fsync) {
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "queue.spool.dir", dir), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.spool.fsync", fsync), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.max-events", "100"), FLUME_OK, NULL); /* the rest on disk only */
  CHECK_CODE(flume_config_set(conf, "close-timeout", "100"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "connect-timeout", "200"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "retry-backoff", "20"), FLUME_OK, NULL);
  /* Retry until freed, never report a failure: with nothing listening, every event stays queued. */
  CHECK_CODE(flume_config_set(conf, "retries", "1000000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "event-timeout", "86400000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.spool.fsync", "sometimes"), FLUME_ERR_CONFIG, "queue.spool.fsync");
  CHECK_CODE(flume_config_set_delivery_cb(conf, on_report, NULL), FLUME_OK, NULL);
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  return client;
}

static void send_events(flume_client *client, size_t first) {
  char body[64];
  flume_header headers[] = {{"test", "spool"}};
  for (size_t i = 0; i < event_count; i++) {
    int len = snprintf(body, sizeof body, "spooled event %zu", first + i);
    flume_event event = {headers, 1, body, (size_t)len};
    CHECK_CODE(flume_client_send(client, &event, (void *)(uintptr_t)(i + 1)), FLUME_OK, NULL);
  }
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    CHECK(unlink(path) == 0);
  }
  closedir(d);
  CHECK(rmdir(dir) == 0);
}

int main(int argc, char **argv) {
  if (argc != 3 || (event_count = strtoul(argv[1], NULL, 10)) < 1) {
    fprintf(stderr, "usage: spool EVENTS never|interval|always\n");
    return 2;
  }
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");
  char dir[] = "/tmp/flume-spool-c.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);

  /* 1. Nothing listens: accepted, left on disk, no report. */
  flume_client *offline = spooled_client("127.0.0.1:1", dir, argv[2]);
  CHECK(offline != NULL);
  send_events(offline, 0);
  flume_client_free(offline);
  CHECK(atomic_load(&replayed_ok) + atomic_load(&own_ok) + atomic_load(&bad_reports) == 0);

  /* 2. The next client sends them, then its own. */
  flume_client *client = spooled_client(hosts, dir, argv[2]);
  CHECK(client != NULL);
  CHECK(spooled_client(hosts, dir, argv[2]) == NULL);
  CHECK(strstr(flume_last_error(), "FLUME_ERR_CONFIG") != NULL);
  CHECK(strstr(flume_last_error(), "this process") != NULL);
  send_events(client, event_count);
  if (flume_client_flush(client, 30000) != FLUME_OK) {
    char *why = flume_client_stats_json(client);
    fprintf(stderr, "spool: flush timed out; statistics: %s\n", why != NULL ? why : "(none)");
    flume_string_free(why);
  }
  CHECK_CODE(flume_client_flush(client, 1), FLUME_OK, NULL);
  CHECK(atomic_load(&replayed_ok) == event_count);
  CHECK(atomic_load(&own_ok) == event_count);
  CHECK(atomic_load(&bad_reports) == 0);
  char *stats = flume_client_stats_json(client);
  CHECK(stats != NULL);
  char expected[64];
  snprintf(expected, sizeof expected, "\"replayed\":%zu,", event_count);
  CHECK(strstr(stats, expected) != NULL);
  CHECK(strstr(stats, "\"events\":0,\"bytes\":0,\"segments\":1,") != NULL);
  flume_string_free(stats);
  /* The same figures in the Prometheus text. */
  char *metrics = flume_client_stats_prometheus(client);
  CHECK(metrics != NULL);
  snprintf(expected, sizeof expected, "\nflume_client_spool_replayed_total %zu\n", event_count);
  CHECK(strstr(metrics, expected) != NULL);
  snprintf(expected, sizeof expected, "\nflume_client_spool_spooled_events_total %zu\n", event_count);
  CHECK(strstr(metrics, expected) != NULL);
  CHECK(strstr(metrics, "\nflume_client_spool_events 0\n") != NULL);
  CHECK(strstr(metrics, "\n# TYPE flume_client_spool_fsyncs_total counter\n") != NULL);
  snprintf(expected, sizeof expected, "fsync=\"%s\"} 1\n", argv[2]);
  CHECK(strstr(metrics, expected) != NULL);
  flume_string_free(metrics);
  flume_client_free(client);
  CHECK(count_lines(output) == 2 * event_count);

  /* 3. The code's fixed description. */
  CHECK(FLUME_ERR_SPOOL == 14);
  CHECK(strncmp(flume_result_str(FLUME_ERR_SPOOL), "FLUME_ERR_SPOOL", 15) == 0);

  remove_dir(dir);
  printf("spool (%s): %zu events left on disk by a freed client, replayed by the next with its own %zu; "
         "%d checks passed\n", argv[2], event_count, event_count, test_checks);
  return 0;
}
