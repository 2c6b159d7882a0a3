/*
 * bad_input: every function with NULL and out-of-range arguments, invalid
 * UTF-8, oversized events and malformed host lists. Each call must give its
 * specific code and a detail in flume_last_error(), and nothing may reach the
 * receiver (run through run_with_receiver.sh, whose receiver's output file must
 * stay empty). At the end one valid event is sent, to show the receiver was
 * reachable all along.
 *
 * Run as is, under valgrind, and built with -fsanitize=address,undefined.
 */
#include <stdint.h>

#include "test_util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* Larger than any array in memory: past PTRDIFF_MAX bytes. */
#define HUGE_COUNT(type) ((size_t)PTRDIFF_MAX / sizeof(type) + 1)

static const flume_header ok_headers[] = {{"k", "v"}};
static const flume_event ok_event = {ok_headers, 1, "body", 4};

static void expect_bad_hosts(const char *hosts, const char *needle) {
  flume_client *client = flume_client_new(hosts, NULL);
  if (client != NULL) {
    fprintf(stderr, "flume_client_new(\"%s\") accepted a bad host list\n", hosts ? hosts : "(NULL)");
    flume_client_free(client);
    exit(1);
  }
  CHECK_CODE(FLUME_ERR_INVALID_ARG, FLUME_ERR_INVALID_ARG, needle);
}

static void test_strings(void) {
  /* No call has failed on this thread yet: an empty string, never NULL. */
  CHECK(flume_last_error() != NULL && flume_last_error()[0] == '\0');
  for (flume_result code = 0; code <= 12; code++) CHECK(flume_result_str(code) != NULL);
  CHECK(flume_result_str(UINT32_MAX) != NULL);
  CHECK(flume_result_str(0x80000000u) != NULL);
  CHECK(flume_version() != NULL && strcmp(flume_version(), FLUME_CLIENT_VERSION) == 0);
}

static void test_free_null(void) {
  flume_config_free(NULL);
  flume_client_free(NULL);
}

static void test_config(void) {
  flume_config *conf = flume_config_new();
  CHECK(conf != NULL);

  /* NULL and non-UTF-8 arguments. */
  CHECK_CODE(flume_config_set(NULL, "batch-size", "1"), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_set(conf, NULL, "1"), FLUME_ERR_INVALID_ARG, "key");
  CHECK_CODE(flume_config_set(conf, "batch-size", NULL), FLUME_ERR_INVALID_ARG, "value");
  CHECK_CODE(flume_config_set(NULL, NULL, NULL), FLUME_ERR_INVALID_ARG, NULL);
  CHECK_CODE(flume_config_set(conf, "\xff", "1"), FLUME_ERR_INVALID_ARG, "key");
  CHECK_CODE(flume_config_set(conf, "batch-size", "\xff"), FLUME_ERR_INVALID_ARG, "value");

  /* Unknown keys and values out of range: FLUME_ERR_CONFIG naming the key. */
  static const char *const bad[][2] = {
      {"no-such-key", "1"},
      {"", "1"},
      {"batchSize", "10"},        /* Flume's keys are case-sensitive */
      {"hosts.h1", "a"},           /* no port */
      {"hosts.h1", "::1:4141"},    /* IPv6 without brackets */
      {"client.type", "default"},  /* Flume's Avro client */
      {"kerberos", "true"},
      {"truststore-type", "JKS"},
      {"backoff", "yes"},
      {"batch-size", ""},
      {"batch-size", " "},
      {"batch-size", "-1"},
      {"batch-size", "0"},
      {"batch-size", "1.5"},
      {"batch-size", "0x10"},
      {"batch-size", "1000001"},
      {"batch-size", "99999999999999999999999"},
      {"connect-timeout", "0"},
      {"connect-timeout", "86400001"},
      {"request-timeout", "ten"},
      {"max-frame-size", "63"},
      {"max-frame-size", "2147483648"},
      {"maxConnections", "0"},
      {"maxConnections", "1025"},
      {"protocol", ""},
      {"protocol", "json"},
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    flume_result r = flume_config_set(conf, bad[i][0], bad[i][1]);
    if (r != FLUME_ERR_CONFIG) {
      fprintf(stderr, "flume_config_set(\"%s\", \"%s\") returned %s, expected FLUME_ERR_CONFIG\n",
              bad[i][0], bad[i][1], flume_result_str(r));
      exit(1);
    }
    CHECK_CODE(r, FLUME_ERR_CONFIG, bad[i][0][0] ? bad[i][0] : NULL);
  }

  /* Properties files: NULLs, unreadable files, bad lines named. */
  CHECK_CODE(flume_config_load_properties(NULL, "x.properties"), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_load_properties(conf, NULL), FLUME_ERR_INVALID_ARG, "path");
  CHECK_CODE(flume_config_load_properties(conf, "/nonexistent/flume.properties"), FLUME_ERR_INVALID_ARG,
             "/nonexistent/flume.properties");
  CHECK_CODE(flume_config_load_properties_str(NULL, "a=b"), FLUME_ERR_INVALID_ARG, "conf");
  CHECK_CODE(flume_config_load_properties_str(conf, NULL), FLUME_ERR_INVALID_ARG, "text");
  CHECK_CODE(flume_config_load_properties_str(conf, "batch-size = 5\n\n# c\nbogus = 1\n"), FLUME_ERR_CONFIG,
             "line 4");
  CHECK_CODE(flume_config_load_properties_str(conf, "key = \\u12"), FLUME_ERR_CONFIG, "line 1");
  CHECK_CODE(flume_config_load_properties_str(conf, "hosts = h1\n"), FLUME_OK, NULL);
  CHECK(flume_client_new(NULL, conf) == NULL); /* hosts.h1 missing */
  CHECK(strstr(flume_last_error(), "hosts.h1") != NULL);
  flume_config_free(conf);

  /* Statistics of no client. */
  CHECK(flume_client_stats_json(NULL) == NULL);
  CHECK(strstr(flume_last_error(), "client") != NULL);
  flume_string_free(NULL);
}

static void test_hosts(void) {
  expect_bad_hosts(NULL, "hosts");
  expect_bad_hosts("", "host");
  expect_bad_hosts(" , ", "host");
  expect_bad_hosts("host", "'host'");
  expect_bad_hosts("host:", "host:");
  expect_bad_hosts(":4141", ":4141");
  expect_bad_hosts("host:0", "host:0");
  expect_bad_hosts("host:65536", "host:65536");
  expect_bad_hosts("host:-1", "host:-1");
  expect_bad_hosts("host:+1", "host:+1");
  expect_bad_hosts("host:12x", "host:12x");
  expect_bad_hosts("::1:4141", "::1:4141");
  expect_bad_hosts("[::1]4141", "[::1]4141");
  expect_bad_hosts("[::1:4141", "[::1:4141");
  expect_bad_hosts("[10.0.0.1]:4141", "10.0.0.1");
  expect_bad_hosts("h/x:1", "h/x:1");
  expect_bad_hosts("\xff:4141", "hosts");
  expect_bad_hosts("127.0.0.1:4141, host:0", "host:0"); /* one bad entry spoils the list */

  /* Good lists, with the default config (conf NULL): creating never connects. */
  const char *good[] = {"127.0.0.1:1", "localhost:4141", "[::1]:4141", "a:1,b:2 c:3"};
  for (size_t i = 0; i < COUNT(good); i++) {
    flume_client *c = flume_client_new(good[i], NULL);
    CHECK(c != NULL);
    flume_client_free(c);
  }
}

static void test_null_pointers(flume_client *client) {
  size_t delivered;

  CHECK_CODE(flume_client_append(NULL, &ok_event), FLUME_ERR_INVALID_ARG, "client");
  CHECK_CODE(flume_client_append(NULL, NULL), FLUME_ERR_INVALID_ARG, "NULL");
  CHECK_CODE(flume_client_append(client, NULL), FLUME_ERR_INVALID_ARG, "event");

  delivered = 99;
  CHECK_CODE(flume_client_append_batch(NULL, &ok_event, 1, &delivered), FLUME_ERR_INVALID_ARG, "client");
  CHECK(delivered == 0);
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(NULL, NULL, 0, &delivered), FLUME_ERR_INVALID_ARG, "client");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(NULL, NULL, 0, NULL), FLUME_ERR_INVALID_ARG, "client");
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, NULL, 1, &delivered), FLUME_ERR_INVALID_ARG, "events");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, NULL, SIZE_MAX, NULL), FLUME_ERR_INVALID_ARG, "events");

  /* Counts no array can have. */
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, &ok_event, SIZE_MAX, &delivered), FLUME_ERR_INVALID_ARG, "count");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, &ok_event, SIZE_MAX / 2 + 1, NULL), FLUME_ERR_INVALID_ARG, "count");
  CHECK_CODE(flume_client_append_batch(client, &ok_event, HUGE_COUNT(flume_event), NULL), FLUME_ERR_INVALID_ARG,
             "count");

  /* Pointers inside an event. */
  flume_event e;
  e = (flume_event){NULL, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "headers");
  e = (flume_event){NULL, SIZE_MAX, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "headers");
  e = (flume_event){ok_headers, SIZE_MAX, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header_count");
  e = (flume_event){ok_headers, HUGE_COUNT(flume_header), "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header_count");
  e = (flume_event){NULL, 0, NULL, 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body");
  e = (flume_event){NULL, 0, NULL, SIZE_MAX};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body");
  e = (flume_event){NULL, 0, "b", SIZE_MAX};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body_len");
  e = (flume_event){NULL, 0, "b", (size_t)PTRDIFF_MAX + 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "body_len");

  flume_header null_key[] = {{NULL, "v"}};
  flume_header null_value[] = {{"k", NULL}};
  flume_header second_null[] = {{"k", "v"}, {"k2", NULL}};
  flume_header both_null[] = {{NULL, NULL}};
  e = (flume_event){null_key, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");
  e = (flume_event){null_value, 1, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");
  e = (flume_event){second_null, 2, "b", 1};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 1");
  e = (flume_event){both_null, 1, NULL, 0};
  CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 0");

  /* One bad event spoils its batch before anything is sent; delivered may be NULL. */
  flume_event batch[4] = {ok_event, ok_event, {null_value, 1, NULL, 0}, ok_event};
  delivered = 99;
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), &delivered), FLUME_ERR_INVALID_ARG, "event 2");
  CHECK(delivered == 0);
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), NULL), FLUME_ERR_INVALID_ARG, "event 2");
  batch[2] = (flume_event){NULL, 3, NULL, 0};
  CHECK_CODE(flume_client_append_batch(client, batch, COUNT(batch), NULL), FLUME_ERR_INVALID_ARG, "event 2");
}

static void test_utf8(flume_client *client) {
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
    e = (flume_event){as_value, 2, "b", 1};
    CHECK_CODE(flume_client_append(client, &e), FLUME_ERR_INVALID_ARG, "header 1");
    flume_event batch[3] = {ok_event, ok_event, e};
    delivered = 99;
    CHECK_CODE(flume_client_append_batch(client, batch, 3, &delivered), FLUME_ERR_INVALID_ARG, "event 2");
    CHECK(delivered == 0);
  }
  /* Bodies are bytes: anything goes there (checked by the final send, not here). */
}

static void test_too_large(const char *hosts) {
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

int main(void) {
  const char *hosts = required_env("FLUME_TEST_HOSTS");
  const char *output = required_env("FLUME_TEST_OUTPUT");

  test_strings();
  test_free_null();
  test_config();
  test_hosts();

  flume_client *client = flume_client_new(hosts, NULL);
  CHECK(client != NULL);
  test_null_pointers(client);
  test_utf8(client);
  test_too_large(hosts);

  /* Nothing reached the receiver. */
  size_t len;
  char *received = read_file(output, &len);
  if (len != 0) {
    fprintf(stderr, "the receiver got events from bad calls:\n%s\n", received);
    exit(1);
  }
  free(received);

  /* ... though it was there all along: a valid event arrives. */
  flume_header headers[] = {{"check", "last"}};
  flume_event last = {headers, 1, "\x00\x01 any bytes", 12};
  CHECK_CODE(flume_client_append(client, &last), FLUME_OK, NULL);
  flume_client_free(client);
  const char *expected[] = {"{\"headers\":{\"check\":\"last\"},\"body\":\"\\u0000\\u0001 any bytes\"}"};
  check_file_lines(output, expected, 1);

  printf("bad_input: %d checks passed\n", test_checks);
  return 0;
}
