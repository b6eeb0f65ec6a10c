/*
 * lodge-spawner: runs programs for lodged, so that lodged does not fork itself.
 *
 * A Node process forks by copying its page tables: for lodged (100+ MB) that is about 6 ms
 * of its one thread per program, and a container launch runs several (mount, runc, ip, nft).
 * lodged starts one spawner and sends it requests on its stdin; the spawner, small, starts
 * each program with posix_spawn (vfork-like) in a thread of its own, feeds it its input,
 * collects its output, and answers on stdout. Requests are served concurrently; answers
 * carry the request's id. It exits when its stdin closes.
 *
 * Frames are little-endian u32 fields.
 *   request:  len id timeout_ms argc stdin_len, then argc NUL-terminated strings, then stdin
 *   answer:   len id code signal spawn_errno out_len err_len, then out, then err
 * (len counts the bytes after itself). code is the exit status, or -1 when the program was
 * killed (signal says by which) or could not be started (spawn_errno says why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 4096;
    b->data = realloc(b->data, b->cap);
    if (!b->data) abort();
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static int read_full(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static void write_full(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) exit(1); /* lodged is gone */
    c += w;
    n -= (size_t)w;
  }
}

struct request {
  uint32_t id, timeout_ms, argc, stdin_len;
  char *body; /* the strings, then stdin */
  size_t body_len;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(uint32_t id, int32_t code, uint32_t sig, uint32_t spawn_errno, const struct buf *out, const struct buf *err) {
  uint32_t head[7] = {0, id, (uint32_t)code, sig, spawn_errno, (uint32_t)out->len, (uint32_t)err->len};
  head[0] = (uint32_t)(sizeof head - 4 + out->len + err->len);
  pthread_mutex_lock(&out_lock);
  write_full(1, head, sizeof head);
  if (out->len) write_full(1, out->data, out->len);
  if (err->len) write_full(1, err->data, err->len);
  pthread_mutex_unlock(&out_lock);
}

static void *serve(void *arg) {
  struct request *rq = arg;
  struct buf out = {0}, err = {0};
  char **argv = calloc(rq->argc + 1, sizeof *argv);
  char *p = rq->body;
  for (uint32_t i = 0; i < rq->argc; i++) {
    argv[i] = p;
    p += strlen(p) + 1;
  }
  const char *input = p;
  size_t input_left = rq->stdin_len;

  int in[2], o[2], e[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
    answer(rq->id, -1, 0, (uint32_t)errno, &out, &err);
    goto done;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  posix_spawn_file_actions_adddup2(&fa, e[1], 2);
  /* the program starts with every signal at its default and none blocked, as from a shell */
  posix_spawnattr_t sa;
  posix_spawnattr_init(&sa);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&sa, &all);
  posix_spawnattr_setsigmask(&sa, &none);
  posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &sa, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&sa);
  close(in[0]);
  close(o[1]);
  close(e[1]);
  if (rc != 0) {
    close(in[1]);
    close(o[0]);
    close(e[0]);
    answer(rq->id, -1, 0, (uint32_t)rc, &out, &err);
    goto done;
  }
  int in_fd = in[1];
  if (input_left == 0) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int64_t deadline = rq->timeout_ms ? now_ms() + rq->timeout_ms : 0;
  int killed = 0;
  int fds_open = 2;
  while (fds_open > 0 || in_fd >= 0) {
    struct pollfd pf[3] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    int wait = -1;
    if (deadline && !killed) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        kill(pid, SIGKILL);
        killed = 1;
        continue;
      }
      wait = (int)left;
    }
    if (poll(pf, 3, wait) < 0 && errno != EINTR) break;
    for (int k = 0; k < 2; k++) {
      if (pf[k].fd >= 0 && (pf[k].revents & (POLLIN | POLLHUP | POLLERR))) {
        char chunk[65536];
        ssize_t r = read(pf[k].fd, chunk, sizeof chunk);
        if (r > 0) {
          buf_add(k == 0 ? &out : &err, chunk, (size_t)r);
        } else if (r == 0 || errno != EINTR) {
          close(pf[k].fd);
          if (k == 0) o[0] = -1; else e[0] = -1;
          fds_open--;
        }
      }
    }
    if (in_fd >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_fd, input, input_left);
      if (w > 0) {
        input += w;
        input_left -= (size_t)w;
      }
      if (input_left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) answer(rq->id, WEXITSTATUS(status), 0, 0, &out, &err);
  else answer(rq->id, -1, WIFSIGNALED(status) ? (uint32_t)WTERMSIG(status) : 0, 0, &out, &err);
done:
  free(out.data);
  free(err.data);
  free(argv);
  free(rq->body);
  free(rq);
  return NULL;
}

int main(void) {
  /* a program that closes its stdin early must not end the spawner */
  signal(SIGPIPE, SIG_IGN);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (;;) {
    uint32_t head[5];
    if (read_full(0, head, sizeof head)) return 0; /* lodged closed the pipe */
    struct request *rq = calloc(1, sizeof *rq);
    rq->id = head[1];
    rq->timeout_ms = head[2];
    rq->argc = head[3];
    rq->stdin_len = head[4];
    rq->body_len = head[0] - (sizeof head - 4);
    rq->body = malloc(rq->body_len + 1);
    if (!rq->body || read_full(0, rq->body, rq->body_len)) return 1;
    rq->body[rq->body_len] = 0;
    pthread_t t;
    if (pthread_create(&t, &attr, serve, rq) != 0) {
      struct buf none = {0};
      answer(rq->id, -1, 0, EAGAIN, &none, &none);
      free(rq->body);
      free(rq);
    }
  }
}
