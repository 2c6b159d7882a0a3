/*
 * bad_input: every function with NULL and out-of-range arguments, invalid
 * UTF-8, oversized events, malformed host lists and bad config. Each call must
 * give its specific code and a detail in flume_last_error(), must not crash,
 * and nothing may reach the receiver (run through run_with_receiver.sh, whose
 * receiver's output file must stay empty); flume_client_send() must refuse
 * without queueing (no delivery report follows).
 *
 *   bad_input [CASE...]
 *
 * With no argument every case runs, in one process (as valgrind and the
 * ASan+UBSan build run it); ctest also runs each case on its own. The last
 * case, config_after_free, sends valid events: the client made from a config
 * that was then freed keeps working, and the receiver was reachable all along.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "test_util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* Larger than any array in memory: past PTRDIFF_MAX bytes. */
#define HUGE_COUNT(type) ((size_t)PTRDIFF_MAX / sizeof(type) + 1)

static const flume_header ok_headers[] = {{"k", "v"}};
static const flume_event ok_event = {ok_headers, 1, "body", 4};

static const char *hosts;
static const char *output;

/* Delivery reports of the shared client: bad input must never produce one. */
static size_t reports;
static void count_report(void *opaque, flume_result result, const char *message, void *user) {
  (void)opaque, (void)result, (void)message, (void)user;
  reports++;
}

/* The client the cases send bad input to, made on first use. */
static flume_client *shared_client;
static flume_client *the_client(void) {
  if (shared_client == NULL) {
    flume_config *conf = flume_config_new();
    CHECK(conf != NULL);
    CHECK_CODE(flume_config_set_delivery_cb(conf, count_report, NULL), FLUME_OK, NULL);
    shared_client = flume_client_new(hosts, conf);
    flume_config_free(conf);
    CHECK(shared_client != NULL);
  }
  return shared_client;
}

static void check_nothing_received(const char *what) {
  if (shared_client != NULL) {
    CHECK_CODE(flume_client_flush(shared_client, 10000), FLUME_OK, NULL);
    if (reports != 0) {
      fprintf(stderr, "%s: %zu delivery reports for events send() refused\n", what, reports);
      exit(1);
    }
  }
  size_t len;
  char *received = read_file(output, &len);
  if (len != 0) {
    fprintf(stderr, "%s: the receiver got events from bad calls:\n%s\n", what, received);
    exit(1);
  }
  free(received);
}

static void expect_bad_hosts(const char *list, const char *needle) {
  flume_client *client = flume_client_new(list, NULL);
  if (client != NULL) {
    fprintf(stderr, "flume_client_new(\"%s\") accepted a bad host list\n", list ? list : "(NULL)");
    flume_client_free(client);
    exit(1);
  }
  CHECK_CODE(FLUME_ERR_INVALID_ARG, FLUME_ERR_INVALID_ARG, needle);
}

static void expect_config_error(const char *key, const char *value) {
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  flume_result r = flume_config_set(conf, key, value);
  if (r != FLUME_ERR_CONFIG) {
    fprintf(stderr, "flume_config_set(\"%s\", \"%s\") returned %s, expected FLUME_ERR_CONFIG\n", key, value,
            flume_result_str(r));
    exit(1);
  }
  CHECK_CODE(r, FLUME_ERR_CONFIG, key[0] ? key : NULL);
  /* The rejected setting changed nothing: a client made from the config works as the default one. */
  flume_client *client = flume_client_new("127.0.0.1:1", conf);
  CHECK(client != NULL);
  flume_client_free(client);
  flume_config_free(conf);
}

/* --- The cases --------------------------------------------------------------- */

static void case_strings(void) {
  /* No call has failed on this thread yet: an empty string, never NULL. */
  CHECK(flume_last_error() != NULL && flume_last_error()[0] == '\0');
  for (flume_result code = 0; code <= 13; code++) CHECK(flume_result_str(code) != NULL);
  CHECK(flume_result_str(UINT32_MAX) != NULL);
  CHECK(flume_result_str(0x80000000u) != NULL);
  CHECK(FLUME_ERR_BUSY == 13 && strncmp(flume_result_str(FLUME_ERR_BUSY), "FLUME_ERR_BUSY:", 15) == 0);
  CHECK(flume_version() != NULL && strcmp(flume_version(), FLUME_CLIENT_VERSION) == 0);
  flume_string_free(NULL);
}

static void case_null_client(void) {
  size_t delivered;
  flume_client_free(NULL);
  CHECK_CODE(flume_client_append(NULL, &ok_event), FLUME_ERR_INVALID_ARG, "client");
  CHECK_CODE(flume_client_append(NULL, NULL), FLUME_ERR_INVALID_ARG, "NULL");
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(NULL, &ok_event, 1, &delivered), FLUME_ERR_INVALID_ARG, "client");
  CHECK(delivered == 0);
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(NULL, NULL, 0, &delivered), FLUME_ERR_INVALID_ARG, "client");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(NULL, NULL, 0, NULL), FLUME_ERR_INVALID_ARG, "client");
  CHECK_CODE(flume_client_send(NULL, &ok_event, NULL), FLUME_ERR_INVALID_ARG, "client");
  CHECK_CODE(flume_client_flush(NULL, 0), FLUME_ERR_INVALID_ARG, "client");
  CHECK(flume_client_stats_json(NULL) == NULL);
  CHECK(strstr(flume_last_error(), "client") != NULL);
}

static void case_null_config(void) {
  flume_config_free(NULL);
  CHECK_CODE(flume_config_set(NULL, "batch-size", "1"), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_set(NULL, NULL, NULL), FLUME_ERR_INVALID_ARG, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(NULL, count_report, NULL), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_load_properties(NULL, "x.properties"), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_load_properties_str(NULL, "a=b"), FLUME_ERR_INVALID_ARG, "conf");
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);
  CHECK_CODE(flume_config_set(conf, NULL, "1"), FLUME_ERR_INVALID_ARG, "key");
  CHECK_CODE(flume_config_set(conf, "batch-size", NULL), FLUME_ERR_INVALID_ARG, "value");
  CHECK_CODE(flume_config_load_properties(conf, NULL), FLUME_ERR_INVALID_ARG, "path");
  CHECK_CODE(flume_config_load_properties_str(conf, NULL), FLUME_ERR_INVALID_ARG, "text");
  flume_config_free(conf);
  /* A NULL config means the defaults. */
  flume_client *client = flume_client_new("127.0.0.1:1", NULL);
  CHECK(client != NULL);
  flume_client_free(client);
}

static void case_null_hosts(void) {
  expect_bad_hosts(NULL, "hosts");
  /* NULL hosts with a config naming none. */
  flume_config *conf = flume_config_new();
  CHECK(flume_client_new(NULL, conf) == NULL);
  CHECK_CODE(FLUME_ERR_INVALID_ARG, FLUME_ERR_INVALID_ARG, "hosts");
  /* ... or naming an alias without its address. */
  CHECK_CODE(flume_config_load_properties_str(conf, "hosts = h1\n"), FLUME_OK, NULL);
  CHECK(flume_client_new(NULL, conf) == NULL);
  CHECK(strstr(flume_last_error(), "hosts.h1") != NULL);
  flume_config_free(conf);
}

static void case_null_event(void) {
  flume_client *client = the_client();
  size_t delivered = 99;
  CHECK_CODE(flume_client_append(client, NULL), FLUME_ERR_INVALID_ARG, "event");
  CHECK_CODE(flume_client_send(client, NULL, NULL), FLUME_ERR_INVALID_ARG, "event");
  /* count 0 with NULL events is an empty batch: nothing to send, nothing sent. */
  CHECK_CODE(flume_client_append_batch(client, NULL, 0, &delivered), FLUME_OK, NULL);
  CHECK(delivered == 0);
}

static void case_null_events_with_count(void) {
  flume_client *client = the_client();
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, NULL, 1, &delivered), FLUME_ERR_INVALID_ARG, "events");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, NULL, 1000, NULL), FLUME_ERR_INVALID_ARG, "events");
  CHECK_CODE(flume_client_append_batch(client, NULL, SIZE_MAX, NULL), FLUME_ERR_INVALID_ARG, "events");
}

static void case_null_headers_with_count(void) {
  flume_client *client = the_client();
  flume_event e = {NULL, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "headers");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "headers");
  e = (flume_event){NULL, SIZE_MAX, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "headers");
  flume_event batch[3] = {ok_event, ok_event, {NULL, 3, NULL, 0}};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 2");
  CHECK(delivered == 0);
}

static void case_null_key_or_value(void) {
  flume_client *client = the_client();
  flume_header null_key[] = {{NULL, "v"}};
  flume_header null_value[] = {{"k", NULL}};
  flume_header second_null[] = {{"k", "v"}, {"k2", NULL}};
  flume_header both_null[] = {{NULL, NULL}};
  flume_event e = {null_key, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "header 0");
  e = (flume_event){null_value, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "header 0");
  e = (flume_event){second_null, 2, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 1");
  e = (flume_event){both_null, 1, NULL, 0};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");
  /* One bad event spoils its batch before anything is sent; delivered may be NULL. */
  flume_event batch[4] = {ok_event, ok_event, {null_value, 1, NULL, 0}, ok_event};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 2");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), NULL), FLUME_ERR_INVALID_ARG, "event 2");
}

/* A batch split into calls (batch-size 2) is checked whole before its first
 * call is sent: a bad event in a later call spoils them all. */
static void case_bad_event_in_a_later_call(void) {
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "batch-size", "2"), FLUME_OK, NULL);
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(client != NULL);
  flume_header null_value[] = {{"k", NULL}};
  flume_header not_utf8[] = {{"k", "ok"}, {"k2", "\xc3\x28"}};
  size_t delivered = 99;
  flume_event batch[5] = {ok_event, ok_event, ok_event, {null_value, 1, NULL, 0}, ok_event};
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 3");
  CHECK(delivered == 0);
  batch[3] = ok_event;
  batch[4] = (flume_event){not_utf8, 2, "b", 1};
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 4");
  CHECK(delivered == 0);
  batch[4] = (flume_event){NULL, 1, "b", 1};
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 4");
  CHECK(delivered == 0);
  flume_client_free(client);
}

static void case_invalid_utf8(void) {
  flume_client *client = the_client();
  static const char *const invalid[] = {
      "\xff",             /* never valid */
      "\xc3\x28",         /* bad continuation */
      "\xc0\xaf",         /* overlong '/' */
      "\xed\xa0\x80",     /* UTF-16 surrogate */
      "\xe2\x82",         /* truncated */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "ok\x80",
  };
  size_t delivered;
  for (size_t i = 0; i < COUNT(invalid); i++) {
    flume_header as_key[] = {{invalid[i], "v"}};
    flume_header as_value[] = {{"good", "fine"}, {"k", invalid[i]}};
    flume_event e = {as_key, 1, "b", 1};
    CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "UTF-8");
    CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "UTF-8");
    e = (flume_event){as_value, 2, "b", 1};
    CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 1");
    CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "header 1");
    flume_event batch[3] = {ok_event, ok_event, e};
    delivered = 99;
    CHECK_CODE(flume_client_append_batch(client, batch, 3, &delivered), FLUME_ERR_INVALID_ARG, "event 2");
    CHECK(delivered == 0);
  }
  /* Config keys and values, and host lists, must be UTF-8 too. */
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "\xff", "1"), FLUME_ERR_INVALID_ARG, "key");
  CHECK_CODE(flume_config_set(conf, "batch-size", "\xff"), FLUME_ERR_INVALID_ARG, "value");
  CHECK_CODE(flume_config_load_properties_str(conf, "batch-size = \xff\n"), FLUME_ERR_INVALID_ARG, "text");
  flume_config_free(conf);
  expect_bad_hosts("\xff:4141", "hosts");
  /* Bodies are bytes: anything goes there (config_after_free sends one). */
}

static void case_null_body_with_length(void) {
  flume_client *client = the_client();
  flume_event e = {NULL, 0, NULL, 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "body");
  e = (flume_event){NULL, 0, NULL, SIZE_MAX};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body");
  flume_event batch[2] = {ok_event, {ok_headers, 1, NULL, 4}};
  size_t delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, 2, &delivered), FLUME_ERR_INVALID_ARG, "event 1");
  CHECK(delivered == 0);
}

static void case_huge_counts(void) {
  flume_client *client = the_client();
  size_t delivered = 99;
  /* Counts no array can have. */
  CHECK_CODE(flume_client_append_batch(client, &ok_event, SIZE_MAX, &delivered), FLUME_ERR_INVALID_ARG, "count");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, &ok_event, SIZE_MAX / 2 + 1, NULL), FLUME_ERR_INVALID_ARG, "count");
  CHECK_CODE(flume_client_append_batch(client, &ok_event, HUGE_COUNT(flume_event), NULL), FLUME_ERR_INVALID_ARG,
             "count");
  flume_event e = {ok_headers, SIZE_MAX, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header_count");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "header_count");
  e = (flume_event){ok_headers, HUGE_COUNT(flume_header), "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header_count");
  e = (flume_event){NULL, 0, "b", SIZE_MAX};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body_len");
  CHECK_CODE(flume_client_send(client, &e, NULL), FLUME_ERR_INVALID_ARG, "body_len");
  e = (flume_event){NULL, 0, "b", (size_t)PTRDIFF_MAX + 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body_len");
}

static void case_empty_hosts(void) {
  expect_bad_hosts("", "host");
  expect_bad_hosts(" ", "host");
  expect_bad_hosts(" , ", "host");
  expect_bad_hosts(",,\t\n", "host");
}

static void case_malformed_hosts(void) {
  expect_bad_hosts("host", "'host'");
  expect_bad_hosts("host:", "host:");
  expect_bad_hosts(":4141", ":4141");
  expect_bad_hosts("host:+1", "host:+1");
  expect_bad_hosts("host:12x", "host:12x");
  expect_bad_hosts("host:4141:1", "host:4141:1");
  expect_bad_hosts("::1:4141", "::1:4141");
  expect_bad_hosts("[::1]4141", "[::1]4141");
  expect_bad_hosts("[::1:4141", "[::1:4141");
  expect_bad_hosts("[10.0.0.1]:4141", "10.0.0.1");
  expect_bad_hosts("[]:4141", "[]:4141");
  expect_bad_hosts("h/x:1", "h/x:1");
  expect_bad_hosts("h x:1", "'h'");
  expect_bad_hosts("127.0.0.1:4141; other:4141", "127.0.0.1:4141;");
  expect_bad_hosts("127.0.0.1:4141, host:0", "host:0"); /* one bad entry spoils the list */
  /* The same entries as hosts.<alias> in a config. */
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "hosts.h1", "host"), FLUME_ERR_CONFIG, "hosts.h1");
  CHECK_CODE(flume_config_set(conf, "hosts.h1", "::1:4141"), FLUME_ERR_CONFIG, "hosts.h1");
  CHECK_CODE(flume_config_set(conf, "hosts", ""), FLUME_ERR_CONFIG, "hosts");
  flume_config_free(conf);

  /* Good lists, with the default config (conf NULL): creating never connects. */
  const char *good[] = {"127.0.0.1:1", "localhost:4141", "[::1]:4141", "a:1,b:2 c:3", "h:65535"};
  for (size_t i = 0; i < COUNT(good); i++) {
    flume_client *c = flume_client_new(good[i], NULL);
    CHECK(c != NULL);
    flume_client_free(c);
  }
}

static void case_bad_ports(void) {
  expect_bad_hosts("host:0", "host:0");
  expect_bad_hosts("host:00", "host:00");
  expect_bad_hosts("host:65536", "host:65536");
  expect_bad_hosts("host:99999999999999999999", "host:99999999999999999999");
  expect_bad_hosts("host:-1", "host:-1");
  expect_bad_hosts("[::1]:0", "[::1]:0");
  expect_bad_hosts("[::1]:65536", "[::1]:65536");
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "hosts.h1", "host:0"), FLUME_ERR_CONFIG, "hosts.h1");
  CHECK_CODE(flume_config_set(conf, "hosts.h1", "host:65536"), FLUME_ERR_CONFIG, "hosts.h1");
  flume_config_free(conf);
}

static void case_unknown_config_keys(void) {
  static const char *const keys[] = {
      "no-such-key", "", " batch-size", "batch-size ", "batchSize", /* Flume's keys are case-sensitive */
      "BATCH-SIZE", "hosts.", "kerberos", "client-principal", "compression-type",
  };
  for (size_t i = 0; i < COUNT(keys); i++) expect_config_error(keys[i], "1");
  expect_config_error("truststore-type", "JKS");
  expect_config_error("client.type", "default"); /* Flume's Avro client */
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_load_properties_str(conf, "batch-size = 5\n\n# c\nbogus = 1\n"), FLUME_ERR_CONFIG,
             "line 4");
  CHECK_CODE(flume_config_load_properties_str(conf, "bogus"), FLUME_ERR_CONFIG, "bogus");
  flume_config_free(conf);
}

static void case_bad_config_values(void) {
  /* Non-numeric, negative, fractional, out of range. */
  static const char *const bad[][2] = {
      {"batch-size", ""},
      {"batch-size", " "},
      {"batch-size", "ten"},
      {"batch-size", "-1"},
      {"batch-size", "0"},
      {"batch-size", "1.5"},
      {"batch-size", "0x10"},
      {"batch-size", "1e3"},
      {"batch-size", "+-1"},
      {"batch-size", "1000001"},
      {"batch-size", "99999999999999999999999"},
      {"connect-timeout", "0"},
      {"connect-timeout", "-5"},
      {"connect-timeout", "86400001"},
      {"request-timeout", "ten"},
      {"request-timeout", "-1"},
      {"max-frame-size", "63"},
      {"max-frame-size", "-64"},
      {"max-frame-size", "2147483648"},
      {"maxConnections", "0"},
      {"maxConnections", "-1"},
      {"maxConnections", "1025"},
      {"max-attempts", "-1"},
      {"maxBackoff", "-1"},
      {"queue.max-events", "-1"},
      {"queue.max-bytes", "lots"},
      {"queue.block-timeout", "-1"},
      {"linger-ms", "-1"},
      {"retries", "-1"},
      {"retry-backoff", "x"},
      {"event-timeout", "0"},
      {"close-timeout", "-1"},
      {"protocol", ""},
      {"protocol", "json"},
      {"backoff", "yes"},
      {"queue.full", "drop"},
      {"host-selector", "com.example.Selector"},
  };
  for (size_t i = 0; i < COUNT(bad); i++) expect_config_error(bad[i][0], bad[i][1]);
  /* In a properties text the line is named, and nothing of the file is applied. */
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_load_properties_str(conf, "max-frame-size = 64\nbatch-size = -3\n"), FLUME_ERR_CONFIG,
             "line 2");
  CHECK_CODE(flume_config_load_properties_str(conf, "key = \\u12"), FLUME_ERR_CONFIG, "line 1");
  CHECK_CODE(flume_config_load_properties(conf, "/nonexistent/flume.properties"), FLUME_ERR_INVALID_ARG,
             "/nonexistent/flume.properties");
  flume_client *client = flume_client_new(hosts, conf);
  CHECK(client != NULL);
  /* max-frame-size 64 was not applied: a 1 KB event still fits (validated only: the batch is refused later). */
  char kb[1024];
  memset(kb, 'x', sizeof kb);
  flume_header bad_header[] = {{"k", "\xff"}};
  flume_event pair[2] = {{NULL, 0, kb, sizeof kb}, {bad_header, 1, "x", 1}};
  CHECK_CODE(flume_client_append_batch(client, pair, 2, NULL), FLUME_ERR_INVALID_ARG, "event 1");
  flume_client_free(client);
  flume_config_free(conf);
}

static void case_too_large(void) {
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "max-frame-size", "64"), FLUME_OK, NULL);
  flume_client *small = flume_client_new(hosts, conf);
  flume_config_free(conf);
  CHECK(small != NULL);

  char kb[1024];
  memset(kb, 'x', sizeof kb);
  char long_key[1025];
  memset(long_key, 'k', 1024);
  long_key[1024] = '\0';
  flume_header long_header[] = {{long_key, "v"}};
  size_t delivered;

  flume_event big_body = {NULL, 0, kb, sizeof kb};
  CHECK_CODE(flume_client_append(small, &big_body), FLUME_ERR_TOO_LARGE, "max-frame-size");
  CHECK_CODE(flume_client_send(small, &big_body, NULL), FLUME_ERR_TOO_LARGE, "max-frame-size");
  flume_event big_header = {long_header, 1, NULL, 0};
  CHECK_CODE(flume_client_append(small, &big_header), FLUME_ERR_TOO_LARGE, "max-frame-size");
  flume_event tiny = {NULL, 0, "x", 1};
  flume_event batch[3] = {tiny, big_body, tiny};
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(small, batch, 3, &delivered), FLUME_ERR_TOO_LARGE, "event 1");
  CHECK(delivered == 0);
  flume_client_free(small);

  /* With the default max-frame-size (Flume's limit): a body of exactly that
   * many bytes leaves no room for the rest of the frame. */
  flume_client *client = flume_client_new(hosts, NULL);
  CHECK(client != NULL);
  char *huge = malloc(FLUME_MAX_FRAME_SIZE);
  CHECK(huge != NULL);
  memset(huge, 'y', FLUME_MAX_FRAME_SIZE);
  flume_event huge_event = {NULL, 0, huge, FLUME_MAX_FRAME_SIZE};
  CHECK_CODE(flume_client_append(client, &huge_event), FLUME_ERR_TOO_LARGE, "max-frame-size");
  delivered = 99;
  flume_event pair[2] = {tiny, huge_event};
  CHECK_CODE(flume_client_append_batch(client, pair, 2, &delivered), FLUME_ERR_TOO_LARGE, "event 1");
  CHECK(delivered == 0);
  free(huge);
  flume_client_free(client);
}

/* Sends valid events: run last. The config is freed (after the client copied
 * it) and the client keeps working; a second client from the same config
 * before it was freed has the same settings. */
static size_t after_free_reports;
static void after_free_report(void *opaque, flume_result result, const char *message, void *user) {
  (void)message;
  CHECK(result == FLUME_OK && opaque == (void *)&after_free_reports && user == (void *)&after_free_reports);
  after_free_reports++;
}

static void case_config_after_free(void) {
  flume_config *conf = flume_config_new();
  CHECK_CODE(flume_config_set(conf, "max-frame-size", "100"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set(conf, "request-timeout", "5000"), FLUME_OK, NULL);
  CHECK_CODE(flume_config_set_delivery_cb(conf, after_free_report, &after_free_reports), FLUME_OK, NULL);
  flume_client *client = flume_client_new(hosts, conf);
  CHECK(client != NULL);
  flume_config_free(conf);
  conf = NULL;

  /* The copied settings still hold: max-frame-size 100. */
  char kb[1024];
  memset(kb, 'z', sizeof kb);
  flume_event big = {NULL, 0, kb, sizeof kb};
  CHECK_CODE(flume_client_append(client, &big), FLUME_ERR_TOO_LARGE, "max-frame-size (100)");
  check_nothing_received("config_after_free");

  /* And the client works: a synchronous event, then an asynchronous one with its report. */
  flume_header headers[] = {{"check", "last"}};
  flume_event last = {headers, 1, "\x00\x01 any bytes", 12};
  CHECK_CODE(flume_client_append(client, &last), FLUME_OK, NULL);
  flume_event queued = {headers, 1, "queued", 6};
  CHECK_CODE(flume_client_send(client, &queued, &after_free_reports), FLUME_OK, NULL);
  CHECK_CODE(flume_client_flush(client, 10000), FLUME_OK, NULL);
  CHECK(after_free_reports == 1);
  flume_client_free(client);
  CHECK(after_free_reports == 1);
  const char *expected[] = {
      "{\"headers\":{\"check\":\"last\"},\"body\":\"\\u0000\\u0001 any bytes\"}",
      "{\"headers\":{\"check\":\"last\"},\"body\":\"queued\"}",
  };
  check_file_lines(output, expected, 2);
}

struct test_case {
  const char *name;
  void (*run)(void);
  int sends; /* sends valid events: checks the receiver's output itself */
};

static const struct test_case cases[] = {
    {"strings", case_strings, 0},
    {"null_client", case_null_client, 0},
    {"null_config", case_null_config, 0},
    {"null_hosts", case_null_hosts, 0},
    {"null_event", case_null_event, 0},
    {"null_events_with_count", case_null_events_with_count, 0},
    {"null_headers_with_count", case_null_headers_with_count, 0},
    {"null_key_or_value", case_null_key_or_value, 0},
    {"bad_event_in_a_later_call", case_bad_event_in_a_later_call, 0},
    {"invalid_utf8", case_invalid_utf8, 0},
    {"null_body_with_length", case_null_body_with_length, 0},
    {"huge_counts", case_huge_counts, 0},
    {"empty_hosts", case_empty_hosts, 0},
    {"malformed_hosts", case_malformed_hosts, 0},
    {"bad_ports", case_bad_ports, 0},
    {"unknown_config_keys", case_unknown_config_keys, 0},
    {"bad_config_values", case_bad_config_values, 0},
    {"too_large", case_too_large, 0},
    {"config_after_free", case_config_after_free, 1},
};

static void run_case(const struct test_case *c) {
  int before = test_checks;
  c->run();
  if (!c->sends) check_nothing_received(c->name);
  printf("bad_input %s: %d checks passed\n", c->name, test_checks - before);
}

int main(int argc, char **argv) {
  hosts = required_env("FLUME_TEST_HOSTS");
  output = required_env("FLUME_TEST_OUTPUT");

  if (argc == 1) {
    for (size_t i = 0; i < COUNT(cases); i++) run_case(&cases[i]);
  } else {
    for (int a = 1; a < argc; a++) {
      const struct test_case *found = NULL;
      for (size_t i = 0; i < COUNT(cases); i++)
        if (strcmp(cases[i].name, argv[a]) == 0) found = &cases[i];
      if (found == NULL) {
        fprintf(stderr, "bad_input: no case '%s'; cases:", argv[a]);
        for (size_t i = 0; i < COUNT(cases); i++) fprintf(stderr, " %s", cases[i].name);
        fprintf(stderr, "\n");
        return 2;
      }
      run_case(found);
    }
  }
  if (shared_client != NULL) flume_client_free(shared_client);
  printf("bad_input: %d checks passed\n", test_checks);
  return 0;
}
