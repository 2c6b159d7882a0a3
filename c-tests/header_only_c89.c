/* The header alone, compiled as strict C89 with -pedantic-errors (see CMakeLists.txt):
   C89-only compilers and -std=c89 projects can include it. */
#include <flume_client.h>

int flume_header_only_c89(void);
int flume_header_only_c89(void) {
  flume_header h;
  flume_event e;
  flume_result r = FLUME_OK;
  h.key = "k";
  h.value = "v";
  e.headers = &h;
  e.header_count = 1;
  e.body = "b";
  e.body_len = 1;
  return (int)(e.header_count + r) + FLUME_MAX_FRAME_SIZE + FLUME_CLIENT_VERSION_MAJOR;
}
