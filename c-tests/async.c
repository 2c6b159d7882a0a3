/*
 * async: the asynchronous path through the C API (run by run_with_receiver.sh).
 *
 *   async EVENTS [THREADS]
 *
 * 1. THREADS threads (default 4) share one client and queue EVENTS events in
 *    total with flume_client_send(); flume_client_flush() waits for them. Each
 *    event gets exactly one delivery report (flume_config_set_delivery_cb),
 *    FLUME_OK with an empty message, and arrives at the receiver exactly once.
 *    The config is freed right after the client is made (the client keeps its
 *    own copy, callback included).
 * 2. Bad events are refused by flume_client_send() with their code and get no
 *    report.
 * 3. A client of a port where nothing listens: events sent and then the
 *    client freed without a flush are each reported exactly once, failed,
 *    before flume_client_free() returns; none after.
 * 4. Re-entrant callbacks: flume_client_send() from a callback while
 *    flume_client_free() runs is refused with FLUME_ERR_CLOSED, and after
 *    free returns there is no report and no thread of the client (and a
 *    flume_client_free() from the callback meanwhile does nothing);
 *    flume_client_free() from a callback returns, every event is still
 *    reported exactly once, and the client's threads end within
 *    close-timeout; flume_client_flush() from a callback fails at once with
 *    FLUME_ERR_INVALID_ARG instead of waiting for itself.
 *
 * 5. flume_client_send_borrowed(): bodies of 2 KiB, each malloc'd and freed
 *    by its delivery callback (opaque points to it), are all reported once,
 *    OK; the library reads none after its report (memcheck and ASan would
 *    say so), also when a client of a dead agent is freed with them queued.
 *    Without a delivery callback it is refused.
 *
 * ctest runs it plainly, under valgrind memcheck and built with ASan+UBSan.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static size_t event_count, thread_count = 4;
static flume_client *client;

/* Per event: reports received, and the result of the last one. */
static atomic_uint *report_count;
static atomic_uint *report_result;
static atomic_size_t reports_total, bad_messages;

static void on_report(void *opaque, flume_result result, const char *message, void *user) {
  size_t id = (size_t)(uintptr_t)opaque - 1; /* opaque is id + 1: never NULL */
  size_t limit = (size_t)(uintptr_t)user;
  atomic_fetch_add(&reports_total, 1);
  if (id >= limit || message == NULL || (result == FLUME_OK) != (message[0] == '\0')) {
    atomic_fetch_add(&bad_messages, 1);
    return;
  }
  atomic_fetch_add(&report_count[id], 1);
  atomic_store(&report_result[id], result);
}

static void reset_reports(size_t n) {
  for (size_t i = 0; i < n; i++) {
    atomic_store(&report_count[i], 0);
    atomic_store(&report_result[i], UINT32_MAX);
  }
  atomic_store(&reports_total, 0);
  atomic_store(&bad_messages, 0);
}

static void *send_share(void *arg) {
  size_t t = (size_t)arg;
  static const flume_header headers[] = {{"host", "async-test"}, {"kind", "send"}};
  char body[32];
  for (size_t id = t; id < event_count; id += thread_count) {
    int len = snprintf(body, sizeof body, "id-%zu", id);
    flume_event e = {headers, 2, body, (size_t)len};
    flume_result r = flume_client_send(client, &e, (void *)(uintptr_t)(id + 1));
    if (r != FLUME_OK) {
      fprintf(stderr, "async: thread %zu: send of %zu: %s: %s\n", t, id, flume_result_str(r), flume_last_error());
      exit(1);
    }
    /* The library copied the event: the body buffer is reused at once. */
    memset(body, '#', sizeof body);
  }
  return NULL;
}

/* A loopback port where nothing listens (bound, not listening: refused at once). */
static int closed_port(int *fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
  socklen_t len = sizeof addr;
  CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
  *fd_out = fd;
  return ntohs(addr.sin_port);
}

static long long json_number(const char *json, const char *key) {
  const char *at = strstr(json, key);
  CHECK(at != NULL);
  return atoll(at + strlen(key));
}

static void test_delivery(const char *hosts, const char *output) {
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  CHECK_CODE(flume_config_set(conf, "batch-size", "200"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "linger-ms", "2"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.full", "block"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.block-timeout", "30000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "queue.max-events", "5000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, on_report, (void *)(uintptr_t)event_count), FLUME_OK, NULL);
  client = flume_client_new(hosts, conf);
  flume_config_free(conf); /* the client keeps its own copy, callback included */
  CHECK(client != NULL);

  pthread_t threads[64];
  for (size_t t = 0; t < thread_count; t++) CHECK(pthread_create(&threads[t], NULL, send_share, (void *)t) == 0);
  for (size_t t = 0; t < thread_count; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  CHECK_CODE(flume_client_flush(client, 120000), FLUME_OK, NULL);

  /* Exactly one report per event, all FLUME_OK, before flush returned. */
  CHECK(atomic_load(&bad_messages) == 0);
  CHECK(atomic_load(&reports_total) == event_count);
  for (size_t id = 0; id < event_count; id++) {
    if (atomic_load(&report_count[id]) != 1 || atomic_load(&report_result[id]) != FLUME_OK) {
      fprintf(stderr, "async: event %zu: %u reports, last %s\n", id, atomic_load(&report_count[id]),
              flume_result_str(atomic_load(&report_result[id])));
      exit(1);
    }
  }

  /* 2. Bad events: refused, never reported. */
  flume_header bad_utf8[] = {{"k", "\xff"}};
  flume_event bad = {bad_utf8, 1, "x", 1};
  CHECK_CODE(flume_client_send(client, &bad, (void *)1), FLUME_ERR_INVALID_ARG, "UTF-8");
  CHECK_CODE(flume_client_send(client, NULL, (void *)1), FLUME_ERR_INVALID_ARG, "event");
  flume_event null_body = {NULL, 0, NULL, 5};
  CHECK_CODE(flume_client_send(client, &null_body, (void *)1), FLUME_ERR_INVALID_ARG, "body");
  CHECK_CODE(flume_client_send(NULL, &bad, (void *)1), FLUME_ERR_INVALID_ARG, "client");
  CHECK_CODE(flume_client_flush(client, 10000), FLUME_OK, NULL);
  CHECK_CODE(flume_client_flush(NULL, 10), FLUME_ERR_INVALID_ARG, "client");

  char *stats = flume_client_stats_json(client);
  CHECK(stats != NULL);
  long long acked = json_number(stats, "\"events_acked\":");
  flume_string_free(stats);
  CHECK(acked == (long long)event_count);
  flume_client_free(client);
  CHECK(atomic_load(&reports_total) == event_count); /* nothing more, also from free */

  /* Every id arrived exactly once. */
  unsigned char *seen = calloc(event_count, 1);
  CHECK(seen != NULL);
  FILE *f = fopen(output, "r");
  CHECK(f != NULL);
  char line[512];
  size_t lines = 0;
  while (fgets(line, sizeof line, f)) {
    const char *body = strstr(line, "\"body\":\"id-");
    CHECK(body != NULL);
    size_t id = strtoul(body + strlen("\"body\":\"id-"), NULL, 10);
    if (id >= event_count || seen[id]++) {
      fprintf(stderr, "async: id %zu unknown or repeated\n", id);
      exit(1);
    }
    lines++;
  }
  fclose(f);
  free(seen);
  CHECK(lines == event_count);
}

static void test_free_reports_the_rest(void) {
  enum { N = 20 };
  int fd;
  char nowhere[64];
  snprintf(nowhere, sizeof nowhere, "127.0.0.1:%d", closed_port(&fd));
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "retries", "1000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "retry-backoff", "10"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "close-timeout", "200"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, on_report, (void *)(uintptr_t)N), FLUME_OK, NULL);
  flume_client *c = flume_client_new(nowhere, conf);
  flume_config_free(conf);
  CHECK(c != NULL);
  reset_reports(N);
  for (size_t id = 0; id < N; id++) {
    flume_event e = {NULL, 0, "lost", 4};
    CHECK_CODE(flume_client_send(c, &e, (void *)(uintptr_t)(id + 1)), FLUME_OK, NULL);
  }
  flume_client_free(c); /* no flush: free flushes for close-timeout, then reports the rest */
  CHECK(atomic_load(&bad_messages) == 0);
  CHECK(atomic_load(&reports_total) == N);
  for (size_t id = 0; id < N; id++) {
    CHECK(atomic_load(&report_count[id]) == 1);
    flume_result r = atomic_load(&report_result[id]);
    CHECK(r == FLUME_ERR_CONNECT || r == FLUME_ERR_CLOSED || r == FLUME_ERR_TIMEOUT);
  }
  nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  CHECK(atomic_load(&reports_total) == N); /* none after free returned */
  close(fd);
}

/* Threads of this process. */
static int task_count(void) {
  DIR *dir = opendir("/proc/self/task");
  CHECK(dir != NULL);
  int n = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) n += entry->d_name[0] != '.';
  closedir(dir);
  return n;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* task_count() once it is `expected`, or after `ms` milliseconds; says so when it is not. */
static int task_count_within(int expected, int ms) {
  long long start = now_ms();
  int n;
  while ((n = task_count()) != expected && now_ms() - start < ms) nanosleep(&(struct timespec){0, 1000000}, NULL);
  if (n != expected) fprintf(stderr, "async: %d threads after %d ms, %d expected\n", n, ms, expected);
  return n;
}

static void sleep_ms(long ms) {
  nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000 * 1000}, NULL);
}

/* The client the re-entrant callbacks below use. */
static flume_client *reentrant;
static atomic_int freeing;
static atomic_size_t sends_during_free, refused_during_free;
static atomic_int nested_free_done;

static void send_during_free(void *opaque, flume_result result, const char *message, void *user) {
  on_report(opaque, result, message, user);
  if (atomic_load(&freeing)) {
    /* A callback freeing its client while free runs: harmless, the running free frees it. */
    if (!atomic_exchange(&nested_free_done, 1)) flume_client_free(reentrant);
    flume_event e = {NULL, 0, "again", 5};
    flume_result r = flume_client_send(reentrant, &e, (void *)(uintptr_t)1);
    atomic_fetch_add(&sends_during_free, 1);
    if (r == FLUME_ERR_CLOSED && strstr(flume_last_error(), "being freed") != NULL) atomic_fetch_add(&refused_during_free, 1);
  }
}

static void test_send_from_a_callback_during_free(const char *hosts) {
  enum { N = 200 };
  int threads_before = task_count();
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "batch-size", "10"), FLUME_OK, NULL);
  /* Nothing is sent before free, which then sends at once: every report comes during free. */
  CHECK_CODE(flume_config_set(conf, "linger-ms", "10000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, send_during_free, (void *)(uintptr_t)N), FLUME_OK, NULL);
  reentrant = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(reentrant != NULL);
  reset_reports(N);
  for (size_t id = 0; id < N; id++) {
    flume_event e = {NULL, 0, "during-free", 11};
    CHECK_CODE(flume_client_send(reentrant, &e, (void *)(uintptr_t)(id + 1)), FLUME_OK, NULL);
  }
  atomic_store(&freeing, 1);
  flume_client_free(reentrant);
  atomic_store(&freeing, 0);
  CHECK(atomic_load(&sends_during_free) == N);
  CHECK(atomic_load(&refused_during_free) == N); /* each refused, saying why */
  CHECK(atomic_load(&bad_messages) == 0);
  CHECK(atomic_load(&reports_total) == N);
  for (size_t id = 0; id < N; id++) CHECK(atomic_load(&report_count[id]) == 1 && atomic_load(&report_result[id]) == FLUME_OK);
  /* The sender thread ended before free returned (joined); the kernel may take a moment to drop it. */
  CHECK(task_count_within(threads_before, 200) == threads_before);
  sleep_ms(200);
  CHECK(atomic_load(&reports_total) == N); /* and no report came after */
}

static atomic_int all_sent;

static void free_from_a_callback(void *opaque, flume_result result, const char *message, void *user) {
  on_report(opaque, result, message, user);
  if ((uintptr_t)opaque != 6) return;
  /* Not before the test's thread has sent every event: it must not use the client after this. */
  while (!atomic_load(&all_sent)) sleep_ms(1);
  flume_client_free(reentrant);
}

static void test_free_from_a_callback(const char *hosts) {
  enum { N = 100 };
  int threads_before = task_count();
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "batch-size", "10"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "close-timeout", "2000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, free_from_a_callback, (void *)(uintptr_t)N), FLUME_OK, NULL);
  reentrant = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(reentrant != NULL);
  reset_reports(N);
  atomic_store(&all_sent, 0);
  long long start = now_ms();
  for (size_t id = 0; id < N; id++) {
    flume_event e = {NULL, 0, "free-in-cb", 10};
    CHECK_CODE(flume_client_send(reentrant, &e, (void *)(uintptr_t)(id + 1)), FLUME_OK, NULL);
  }
  atomic_store(&all_sent, 1);
  /* The events queued when free ran are still sent and reported, within close-timeout. */
  while (atomic_load(&reports_total) < N && now_ms() - start < 2000 + 3000) sleep_ms(5);
  if (atomic_load(&reports_total) != N) {
    fprintf(stderr, "async: free from a callback: %zu of %d events reported\n", atomic_load(&reports_total), N);
    exit(1);
  }
  CHECK(atomic_load(&bad_messages) == 0);
  for (size_t id = 0; id < N; id++) CHECK(atomic_load(&report_count[id]) == 1 && atomic_load(&report_result[id]) == FLUME_OK);
  /* The sender thread and its helper end within close-timeout (2 s) of the free. */
  CHECK(task_count_within(threads_before, 2000 + 3000) == threads_before);
  sleep_ms(100);
  CHECK(atomic_load(&reports_total) == N);
}

static atomic_uint flush_in_callback_result;
static atomic_llong flush_in_callback_ms;
static atomic_int flush_in_callback_said_why;

static void flush_from_a_callback(void *opaque, flume_result result, const char *message, void *user) {
  on_report(opaque, result, message, user);
  if ((uintptr_t)opaque != 1) return;
  long long start = now_ms();
  atomic_store(&flush_in_callback_result, flume_client_flush(reentrant, 3000));
  atomic_store(&flush_in_callback_ms, now_ms() - start);
  atomic_store(&flush_in_callback_said_why, strstr(flume_last_error(), "delivery callback") != NULL);
}

static void test_flush_from_a_callback(const char *hosts) {
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set_delivery_cb(conf, flush_from_a_callback, (void *)(uintptr_t)1), FLUME_OK, NULL);
  reentrant = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(reentrant != NULL);
  reset_reports(1);
  flume_event e = {NULL, 0, "flush-in-cb", 11};
  CHECK_CODE(flume_client_send(reentrant, &e, (void *)(uintptr_t)1), FLUME_OK, NULL);
  CHECK_CODE(flume_client_flush(reentrant, 10000), FLUME_OK, NULL);
  CHECK(atomic_load(&reports_total) == 1 && atomic_load(&report_result[0]) == FLUME_OK);
  CHECK(atomic_load(&flush_in_callback_result) == FLUME_ERR_INVALID_ARG);
  CHECK(atomic_load(&flush_in_callback_said_why));
  CHECK(atomic_load(&flush_in_callback_ms) < 1000); /* at once, not after its 3 s */
  flume_client_free(reentrant);
}

static atomic_size_t borrowed_reports, borrowed_failures;

static void free_borrowed_body(void *opaque, flume_result result, const char *message, void *user) {
  (void)message;
  (void)user;
  if (result != FLUME_OK) atomic_fetch_add(&borrowed_failures, 1);
  free(opaque); /* the body: the library is done with it */
  atomic_fetch_add(&borrowed_reports, 1);
}

static void test_send_borrowed(const char *hosts) {
  enum { N = 300, BODY = 2048 };
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "batch-size", "50"), FLUME_OK, NULL);
  flume_client *no_callback = flume_client_new(hosts, conf);
  CHECK(no_callback != NULL);
  char small[4] = "abc";
  flume_event e = {NULL, 0, small, 3};
  CHECK_CODE(flume_client_send_borrowed(no_callback, &e, NULL), FLUME_ERR_INVALID_ARG, "delivery callback");
  CHECK_CODE(flume_client_send_borrowed(NULL, &e, NULL), FLUME_ERR_INVALID_ARG, "client");
  flume_client_free(no_callback);

  CHECK_CODE(flume_config_set_delivery_cb(conf, free_borrowed_body, NULL), FLUME_OK, NULL);
  flume_client *c = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(c != NULL);
  CHECK_CODE(flume_client_send_borrowed(c, NULL, NULL), FLUME_ERR_INVALID_ARG, "event");
  static const flume_header headers[] = {{"kind", "borrowed"}};
  for (size_t id = 0; id < N; id++) {
    /* Large bodies stay where they are; every tenth is small and copied. */
    size_t len = id % 10 == 0 ? 100 : BODY;
    char *body = malloc(len);
    CHECK(body != NULL);
    memset(body, 'a' + (int)(id % 26), len);
    flume_event be = {headers, 1, body, len};
    CHECK_CODE(flume_client_send_borrowed(c, &be, body), FLUME_OK, NULL);
  }
  CHECK_CODE(flume_client_flush(c, 60000), FLUME_OK, NULL);
  CHECK(atomic_load(&borrowed_reports) == N);
  CHECK(atomic_load(&borrowed_failures) == 0);
  flume_client_free(c);
  CHECK(atomic_load(&borrowed_reports) == N);

  /* A dead agent: freed with every body still queued or in a failing call,
   * each is reported (failed) and freed by its callback before free returns. */
  enum { LOST = 20 };
  int fd;
  char nowhere[64];
  snprintf(nowhere, sizeof nowhere, "127.0.0.1:%d", closed_port(&fd));
  conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "retries", "1000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "retry-backoff", "10"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "close-timeout", "200"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, free_borrowed_body, NULL), FLUME_OK, NULL);
  c = flume_client_new(nowhere, conf);
  flume_config_free(conf);
  CHECK(c != NULL);
  atomic_store(&borrowed_reports, 0);
  atomic_store(&borrowed_failures, 0);
  for (size_t id = 0; id < LOST; id++) {
    char *body = malloc(BODY);
    CHECK(body != NULL);
    memset(body, 'z', BODY);
    flume_event be = {headers, 1, body, BODY};
    CHECK_CODE(flume_client_send_borrowed(c, &be, body), FLUME_OK, NULL);
  }
  flume_client_free(c);
  close(fd);
  CHECK(atomic_load(&borrowed_reports) == LOST);
  CHECK(atomic_load(&borrowed_failures) == LOST);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s EVENTS [THREADS]\n", argv[0]);
    return 2;
  }
  event_count = strtoul(argv[1], NULL, 10);
  if (argc == 3) thread_count = strtoul(argv[2], NULL, 10);
  if (event_count < 1 || thread_count < 1 || thread_count > 64) {
    fprintf(stderr, "async: bad arguments\n");
    return 2;
  }
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");

  size_t slots = event_count > 200 ? event_count : 200;
  report_count = calloc(slots, sizeof *report_count);
  report_result = calloc(slots, sizeof *report_result);
  CHECK(report_count != NULL && report_result != NULL);
  reset_reports(slots);

  test_delivery(hosts, output);
  test_free_reports_the_rest();
  test_send_from_a_callback_during_free(hosts);
  test_free_from_a_callback(hosts);
  test_flush_from_a_callback(hosts);
  test_send_borrowed(hosts);

  free(report_count);
  free(report_result);
  printf("async: %zu events from %zu threads, each reported once and received once; %d checks passed\n",
         event_count, thread_count, test_checks);
  return 0;
}
