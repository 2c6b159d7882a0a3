/* The package's C API on the shared library, offline. */
#include <stdio.h>

#include <flume_client.h>

int main(void) {
  flume_client *client = flume_client_new("127.0.0.1:1", NULL);
  flume_event event = {NULL, 0, "hello", 5};
  flume_result r = client ? flume_client_append(client, &event) : FLUME_ERR_INVALID_ARG;
  flume_client_free(client);
  if (r != FLUME_ERR_CONNECT) {
    fprintf(stderr, "test_c: expected FLUME_ERR_CONNECT, got %s\n", flume_result_str(r));
    return 1;
  }
  printf("test_c: flume-client %s works\n", flume_version());
  return 0;
}
