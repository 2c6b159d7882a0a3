/* The header alone, compiled as strict C99 with -pedantic-errors (see CMakeLists.txt). */
#include <flume_client.h>

int flume_header_only_c(void);
int flume_header_only_c(void) {
  flume_header h = {"k", "v"};
  flume_event e = {&h, 1, "b", 1};
  flume_result r = FLUME_OK;
  return (int)(e.header_count + r) + FLUME_MAX_FRAME_SIZE + FLUME_CLIENT_VERSION_MAJOR;
}
