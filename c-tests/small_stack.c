/*
 * small_stack: the synchronous calls on a thread with a small stack. The
 * thread runs on a 64 KiB stack of its own, with an unmapped page below it
 * (a call that needed more would crash the test, not corrupt memory), filled
 * with a pattern beforehand: the deepest byte changed is the stack the calls
 * used. It must stay within the 32 KiB the header promises. The calls send
 * 4 KiB bodies, which go from the caller's memory in vectored writes, and a
 * batch of 1,000 (several of them per sendmsg), to the receiver
 * (run_with_receiver.sh); every event must arrive.
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"

#define STACK_SIZE (64 * 1024)
#define PROMISED (32 * 1024)
#define BATCH 1000
#define PATTERN 0xA5

static flume_client *client;
static char body[4096];
static flume_event events[BATCH];

static void *send_events(void *unused) {
  static const flume_header headers[] = {{"host", "small-stack"}, {"topic", "stack"}};
  for (size_t i = 0; i < BATCH; i++) events[i] = (flume_event){headers, 2, body, sizeof body};
  size_t delivered = 0;
  CHECK(flume_client_append(client, &events[0]) == FLUME_OK);
  CHECK(flume_client_append_batch(client, events, BATCH, &delivered) == FLUME_OK);
  CHECK(delivered == BATCH);
  return unused;
}

int main(void) {
  const char *hosts = getenv("FLUME_TEST_HOSTS"), *output = getenv("FLUME_TEST_OUTPUT");
  CHECK(hosts != NULL && output != NULL);
  memset(body, 'x', sizeof body);
  client = flume_client_new(hosts, NULL);
  CHECK(client != NULL);

  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *region = mmap(NULL, page + STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(region != MAP_FAILED);
  CHECK(mprotect(region, page, PROT_NONE) == 0); /* the guard page, below the stack */
  unsigned char *stack = region + page;
  memset(stack, PATTERN, STACK_SIZE);
  pthread_attr_t attr;
  CHECK(pthread_attr_init(&attr) == 0);
  CHECK(pthread_attr_setstack(&attr, stack, STACK_SIZE) == 0);
  pthread_t thread;
  CHECK(pthread_create(&thread, &attr, send_events, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  size_t untouched = 0;
  while (untouched < STACK_SIZE && stack[untouched] == PATTERN) untouched++;
  size_t used = STACK_SIZE - untouched;
  printf("small_stack: the thread used %zu bytes of its stack (at most %d promised)\n", used, PROMISED);
  CHECK(used <= PROMISED);
  flume_client_free(client);

  size_t lines = 0;
  FILE *f = fopen(output, "r");
  CHECK(f != NULL);
  for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
  fclose(f);
  CHECK(lines == BATCH + 1);
  munmap(region, page + STACK_SIZE);
  return 0;
}
