/*
 * smoke: the C API against a live flume-receive (started by run_with_receiver.sh).
 *
 *   smoke MODE [PROTOCOL]
 *
 * MODE says how the receiver was started and what to check:
 *   ok       (--reply ok)       events arrive exactly, delivered counts, and the
 *                               codes a healthy agent can give: INVALID_ARG,
 *                               CONFIG, TOO_LARGE, CONNECT
 *   failed   (--reply failed)   FLUME_ERR_FAILED
 *   error    (--reply error)    FLUME_ERR_SERVER
 *   close    (--reply close)    FLUME_ERR_IO
 *   garbage  (--reply garbage)  FLUME_ERR_PROTOCOL
 *   timeout  (--delay-ms 2000)  FLUME_ERR_TIMEOUT within a 300 ms request-timeout
 * PROTOCOL is the receiver's --protocol: compact (default) or binary.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *protocol = "compact";

static flume_config *make_config(const char *request_timeout) {
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  CHECK_CODE(flume_config_set(conf, "protocol", protocol), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "connect-timeout", "5000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "request-timeout", request_timeout), FLUME_OK, NULL);
  return conf;
}

static flume_client *make_client(const char *hosts, flume_config *conf) {
  flume_client *client = flume_client_new(hosts, conf);
  if (client == NULL) {
    fprintf(stderr, "flume_client_new(\"%s\") failed: %s\n", hosts, flume_last_error());
    exit(1);
  }
  return client;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* A port on which nothing listens: bound (so nobody else takes it while the
 * socket is open) but not listening, so a connection is refused at once. */
static int closed_port(int *fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
  socklen_t len = sizeof addr;
  CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
  *fd_out = fd;
  return ntohs(addr.sin_port);
}

static void check_version_and_strings(void) {
  CHECK(flume_version() != NULL);
  CHECK(strcmp(flume_version(), FLUME_CLIENT_VERSION) == 0);
  char parts[64];
  snprintf(parts, sizeof parts, "%d.%d.%d", FLUME_CLIENT_VERSION_MAJOR, FLUME_CLIENT_VERSION_MINOR,
           FLUME_CLIENT_VERSION_PATCH);
  CHECK(strcmp(parts, FLUME_CLIENT_VERSION) == 0);
  /* No call has failed on this thread yet. */
  CHECK(flume_last_error() != NULL && flume_last_error()[0] == '\0');
  for (flume_result code = 0; code <= 13; code++) {
    CHECK(flume_result_str(code) != NULL && flume_result_str(code)[0] != '\0');
  }
  CHECK(flume_result_str(UINT32_MAX) != NULL);
  CHECK(strncmp(flume_result_str(FLUME_OK), "FLUME_OK", 8) == 0);
  CHECK(strncmp(flume_result_str(FLUME_ERR_TIMEOUT), "FLUME_ERR_TIMEOUT", 17) == 0);
}

/* Against a receiver answering OK: events arrive exactly as sent, and the
 * failures that need no misbehaving agent. */
static void test_ok(const char *hosts, const char *output) {
  /* FLUME_ERR_CONFIG: unknown keys and bad values, each named in the detail. */
  flume_config *conf = make_config("5000");
  CHECK_CODE(flume_config_set(conf, "no-such-key", "1"), FLUME_ERR_CONFIG, "no-such-key");
  CHECK_CODE(flume_config_set(conf, "batch-size", "0"), FLUME_ERR_CONFIG, "batch-size");
  CHECK_CODE(flume_config_set(conf, "request-timeout", "soon"), FLUME_ERR_CONFIG, "request-timeout");
  CHECK_CODE(flume_config_set(conf, "protocol", "json"), FLUME_ERR_CONFIG, "json");
  CHECK_CODE(flume_config_set(conf, "max-frame-size", "63"), FLUME_ERR_CONFIG, "max-frame-size");
  /* Batches of at most 2 events, so a batch of 5 takes 3 calls. */
  CHECK_CODE(flume_config_set(conf, "batch-size", "2"), FLUME_OK, NULL);
  flume_client *client = make_client(hosts, conf);

  flume_header single_headers[] = {{"kind", "single"}, {"host", "h\xc3\xa9llo"}};
  flume_event single = {single_headers, COUNT(single_headers), "hello, flume", 12};

  /* FLUME_ERR_INVALID_ARG: nothing is sent. */
  CHECK_CODE(flume_client_append(client, NULL), FLUME_ERR_INVALID_ARG, "event");
  flume_header bad_headers[] = {{"kind", "\xff"}};
  flume_event bad = {bad_headers, 1, "bad", 3};
  CHECK_CODE(flume_client_append(client, &bad), FLUME_ERR_INVALID_ARG, "UTF-8");
  flume_event good_then_bad[] = {single, bad};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, good_then_bad, 2, &delivered), FLUME_ERR_INVALID_ARG,
             "event 1");
  CHECK(delivered == 0);

  /* FLUME_ERR_TOO_LARGE: a 1 KB body cannot fit in a 64-byte frame; nothing is sent. */
  flume_config *small_conf = make_config("5000");
  CHECK_CODE(flume_config_set(small_conf, "max-frame-size", "64"), FLUME_OK, NULL);
  flume_client *small = make_client(hosts, small_conf);
  flume_config_free(small_conf);
  char big_body[1024];
  memset(big_body, 'x', sizeof big_body);
  flume_event big = {NULL, 0, big_body, sizeof big_body};
  flume_event tiny = {NULL, 0, "x", 1};
  CHECK_CODE(flume_client_append(small, &big), FLUME_ERR_TOO_LARGE, "max-frame-size");
  flume_event tiny_then_big[] = {tiny, big};
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(small, tiny_then_big, 2, &delivered), FLUME_ERR_TOO_LARGE,
             "max-frame-size");
  CHECK(delivered == 0);
  flume_client_free(small);

  /* FLUME_ERR_CONNECT: nothing listens on the port. */
  int closed_fd;
  char closed_hosts[64];
  snprintf(closed_hosts, sizeof closed_hosts, "127.0.0.1:%d", closed_port(&closed_fd));
  flume_client *nowhere = make_client(closed_hosts, conf);
  CHECK_CODE(flume_client_append(nowhere, &single), FLUME_ERR_CONNECT, closed_hosts);
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(nowhere, &single, 1, &delivered), FLUME_ERR_CONNECT,
             closed_hosts);
  CHECK(delivered == 0);
  flume_client_free(nowhere);

  /* Success: one append, a batch of 5 in 3 calls, an empty batch. */
  CHECK_CODE(flume_client_append(client, &single), FLUME_OK, NULL);

  flume_header batch_headers[4][2] = {
      {{"kind", "batch"}, {"seq", "0"}},
      {{"kind", "batch"}, {"seq", "1"}},
      {{"kind", "batch"}, {"seq", "2"}},
      {{"kind", "batch"}, {"seq", "3"}},
  };
  flume_event batch[5] = {
      {batch_headers[0], 2, "event 0", 7},
      {batch_headers[1], 2, "say \"hi\" \\ bye", 14},
      {batch_headers[2], 2, "event 2", 7},
      {batch_headers[3], 2, "", 0},
      {NULL, 0, NULL, 0}, /* no headers, empty body */
  };
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_OK, NULL);
  CHECK(delivered == COUNT(batch));
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, NULL, 0, &delivered), FLUME_OK, NULL);
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, batch, 1, NULL), FLUME_OK, NULL);

  /* A host list: the refused first host is skipped for the second. */
  char two_hosts[160];
  snprintf(two_hosts, sizeof two_hosts, "%s, %s", closed_hosts, hosts);
  flume_client *failover = make_client(two_hosts, conf);
  flume_header failover_headers[] = {{"kind", "failover"}};
  flume_event second = {failover_headers, 1, "second host", 11};
  CHECK_CODE(flume_client_append(failover, &second), FLUME_OK, NULL);
  flume_client_free(failover);
  close(closed_fd);

  flume_config_free(conf);
  flume_client_free(client);

  /* The receiver got exactly the acknowledged events, in order, and nothing else. */
  const char *expected[] = {
      "{\"headers\":{\"kind\":\"single\",\"host\":\"h\xc3\xa9llo\"},\"body\":\"hello, flume\"}",
      "{\"headers\":{\"kind\":\"batch\",\"seq\":\"0\"},\"body\":\"event 0\"}",
      "{\"headers\":{\"kind\":\"batch\",\"seq\":\"1\"},\"body\":\"say \\\"hi\\\" \\\\ bye\"}",
      "{\"headers\":{\"kind\":\"batch\",\"seq\":\"2\"},\"body\":\"event 2\"}",
      "{\"headers\":{\"kind\":\"batch\",\"seq\":\"3\"},\"body\":\"\"}",
      "{\"headers\":{},\"body\":\"\"}",
      "{\"headers\":{\"kind\":\"batch\",\"seq\":\"0\"},\"body\":\"event 0\"}",
      "{\"headers\":{\"kind\":\"failover\"},\"body\":\"second host\"}",
  };
  check_file_lines(output, expected, COUNT(expected));
}

/* Against a misbehaving receiver: every call gives `expected`, appends and
 * batches alike, with delivered 0, and the client keeps working (reconnecting
 * where the connection was dropped). */
static void test_failure(const char *hosts, const char *output, flume_result expected,
                         const char *needle, int slow) {
  flume_config *conf = make_config(slow ? "300" : "5000");
  flume_client *client = make_client(hosts, conf);
  flume_config_free(conf);

  flume_header headers[] = {{"kind", "rejected"}};
  flume_event events[3] = {
      {headers, 1, "one", 3},
      {headers, 1, "two", 3},
      {headers, 1, "three", 5},
  };

  double start = now_ms();
  CHECK_CODE(flume_client_append(client, &events[0]), expected, needle);
  double elapsed = now_ms() - start;
  if (slow) {
    /* request-timeout is 300 ms and the receiver waits 2000 ms: the call must
     * end at the timeout, not when the reply finally comes. */
    if (elapsed < 250 || elapsed > 1500) {
      fprintf(stderr, "timeout: the call took %.0f ms; expected about 300\n", elapsed);
      exit(1);
    }
  }

  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, events, 3, &delivered), expected, needle);
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append(client, &events[2]), expected, needle);
  flume_client_free(client);

  /* The receiver records each call before answering it: 1 + 3 + 1 events. */
  size_t lines = count_lines(output);
  if (lines != 5) {
    fprintf(stderr, "the receiver recorded %zu events, expected 5\n", lines);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s ok|failed|error|close|garbage|timeout [compact|binary]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  if (argc == 3) protocol = argv[2];
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");

  check_version_and_strings();
  if (strcmp(mode, "ok") == 0) {
    test_ok(hosts, output);
  } else if (strcmp(mode, "failed") == 0) {
    test_failure(hosts, output, FLUME_ERR_FAILED, "FAILED", 0);
  } else if (strcmp(mode, "error") == 0) {
    test_failure(hosts, output, FLUME_ERR_SERVER, "ERROR", 0);
  } else if (strcmp(mode, "close") == 0) {
    test_failure(hosts, output, FLUME_ERR_IO, hosts, 0);
  } else if (strcmp(mode, "garbage") == 0) {
    test_failure(hosts, output, FLUME_ERR_PROTOCOL, NULL, 0);
  } else if (strcmp(mode, "timeout") == 0) {
    test_failure(hosts, output, FLUME_ERR_TIMEOUT, "request-timeout", 1);
  } else {
    fprintf(stderr, "unknown mode '%s'\n", mode);
    return 2;
  }
  printf("smoke %s (%s): %d checks passed\n", mode, protocol, test_checks);
  return 0;
}
