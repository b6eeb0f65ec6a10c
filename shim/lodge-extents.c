/*
 * lodge-extents: prints where a regular file holds data, so that a backup reads only that
 * and records the holes between as zeros, unread (lseek's SEEK_DATA and SEEK_HOLE, which
 * Node has no binding for).
 *
 *   lodge-extents FILE FROM TO MINHOLE MAX
 *
 * lodged passes /proc/PID/fd/N as FILE: the descriptor it opened (O_NOFOLLOW) and checked,
 * so no name in a guest's tree is looked up again. It prints "START END\n" (END exclusive) for each stretch
 * of data within [FROM, TO), in order, at most MAX of them; a hole shorter than MINHOLE is
 * counted as data (reading it costs less than asking about it). After MAX lines, ask again
 * from the last END. What the file holds is never read, only where it is allocated; a file
 * cut short meanwhile ends where the kernel says it does. Exit status 0, 1 with "lodge-extents: WHY" on stderr when the file cannot be examined,
 * 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(int status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("lodge-extents: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(status);
}

static long long number(const char *s, const char *what) {
  char *end;
  errno = 0;
  long long n = strtoll(s, &end, 10);
  if (errno || *end || !*s || n < 0) fail(2, "%s is not a count: %s", what, s);
  return n;
}

/* The first offset at or after `from` that holds data, or -1 when there is none before `limit`. */
static off_t next_data(int fd, off_t from, off_t limit, const char *file) {
  if (from >= limit) return -1;
  off_t d = lseek(fd, from, SEEK_DATA);
  if (d < 0) {
    if (errno == ENXIO) return -1;
    fail(1, "%s: SEEK_DATA: %s", file, strerror(errno));
  }
  return d < limit ? d : -1;
}

int main(int argc, char **argv) {
  if (argc != 6) fail(2, "usage: lodge-extents FILE FROM TO MINHOLE MAX");
  const char *file = argv[1];
  off_t from = number(argv[2], "FROM"), to = number(argv[3], "TO"), min_hole = number(argv[4], "MINHOLE");
  long long max = number(argv[5], "MAX");

  int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(1, "%s: %s", file, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail(1, "%s: %s", file, strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(1, "%s is not a regular file", file);

  off_t data = next_data(fd, from, to, file);
  for (long long printed = 0; data >= 0 && printed < max; printed++) {
    off_t hole = data, next = -1;
    for (;;) {
      off_t at = hole;
      hole = lseek(fd, at, SEEK_HOLE);
      if (hole < 0 && errno == ENXIO) hole = at; /* the file now ends before `at` */
      else if (hole < 0) fail(1, "%s: SEEK_HOLE: %s", file, strerror(errno));
      if (hole >= to) {
        hole = to;
        break;
      }
      next = next_data(fd, hole, to, file);
      if (next < 0 || next - hole >= min_hole) break;
      hole = next;
      next = -1;
    }
    if (hole > data) printf("%lld %lld\n", (long long)data, (long long)hole);
    data = next;
  }
  if (fflush(stdout) != 0 || ferror(stdout)) fail(1, "writing: %s", strerror(errno));
  return 0;
}
