/* The C11 half of the consumer: sends a batch, then lets the C++17 half send one event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flume_client.h>

int send_from_cpp(const char *hosts); /* part.cpp */

int main(void) {
  const char *hosts = getenv("FLUME_TEST_HOSTS");
  if (hosts == NULL) {
    fprintf(stderr, "FLUME_TEST_HOSTS is not set\n");
    return 1;
  }
  /* The header, the library and the CMake package agree on the version. */
  if (strcmp(flume_version(), FLUME_CLIENT_VERSION) != 0 ||
      strcmp(FLUME_CLIENT_VERSION, PACKAGE_VERSION_STRING) != 0) {
    fprintf(stderr, "versions differ: library %s, header %s, package %s\n", flume_version(),
            FLUME_CLIENT_VERSION, PACKAGE_VERSION_STRING);
    return 1;
  }

  flume_client *client = flume_client_new(hosts, NULL);
  if (client == NULL) {
    fprintf(stderr, "flume_client_new: %s\n", flume_last_error());
    return 1;
  }
  flume_header headers[] = {{"from", "c"}, {"kind", CONSUMER_KIND}};
  flume_event events[] = {{headers, 2, "one", 3}, {headers, 2, "two", 3}};
  size_t delivered = 0;
  flume_result r = flume_client_append_batch(client, events, 2, &delivered);
  flume_client_free(client);
  if (r != FLUME_OK || delivered != 2) {
    fprintf(stderr, "append_batch: %s, %zu delivered: %s\n", flume_result_str(r), delivered,
            flume_last_error());
    return 1;
  }
  if (send_from_cpp(hosts) != 0) return 1;
  printf("consumer_%s: 3 events delivered\n", CONSUMER_KIND);
  return 0;
}
