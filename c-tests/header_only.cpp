// The header alone, compiled as strict C++11 with -pedantic-errors (see CMakeLists.txt).
#include <flume_client.h>

int flume_header_only_cxx();
int flume_header_only_cxx() {
  flume_header h = {"k", "v"};
  flume_event e = {&h, 1, "b", 1};
  flume_result r = FLUME_OK;
  return static_cast<int>(e.header_count + r) + FLUME_MAX_FRAME_SIZE + FLUME_CLIENT_VERSION_MAJOR;
}
