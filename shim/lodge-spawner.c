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
 * Frames are little-endian u32 fields; every string is framed by its length, so that no
 * byte of an argument can be read as a separator.
 *   request:  len id timeout_ms out_cap argc stdin_len, then argc times (u32 n, n bytes),
 *             then stdin_len bytes of input
 *   answer:   len id code signal spawn_errno flags out_len err_len, then out, then err
 * (len counts the bytes after itself). code is the exit status, or -1 when the program was
 * killed (signal says by which) or could not be started (spawn_errno says why; EINVAL and
 * E2BIG when the request itself was malformed or too large: nothing ran). flags say why
 * the spawner ended it or stopped reading (see FLAG_*).
 *
 * Each program runs in a process group of its own. At its timeout, or when its stdout or
 * stderr passes out_cap bytes, the whole group is killed. Once the program has exited or
 * been killed, its output is read for at most DRAIN_MS more: a process that left the
 * group, or a descendant of a program that exited, can hold the pipes open, and is no
 * reason to hold the answer.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_REQUEST (512u << 20) /* a larger request is refused with E2BIG */
#define MAX_ARGC 65536u
#define MAX_OUTPUT (1u << 30) /* out_cap 0, or more, means this: an answer's lengths are u32 */
#define DRAIN_MS 2000
#define FLAG_TIMED_OUT 1u
#define FLAG_STDOUT_CAP 2u
#define FLAG_STDERR_CAP 4u
#define FLAG_ABANDONED 8u /* the pipes were still open at the drain deadline */

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

/* Reads and drops n bytes: a refused request is skipped whole, so the next one is read from its start. */
static int skip_full(int fd, size_t n) {
  char chunk[65536];
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    if (read_full(fd, chunk, k)) return -1;
    n -= k;
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
  uint32_t id, timeout_ms, out_cap, argc, stdin_len;
  char *body; /* as received: the framed strings, then stdin */
  char **argv; /* NUL-terminated copies of the strings, then NULL */
  const char *input;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(uint32_t id, int32_t code, uint32_t sig, uint32_t spawn_errno, uint32_t flags, const struct buf *out, const struct buf *err) {
  uint32_t head[8] = {0, id, (uint32_t)code, sig, spawn_errno, flags, (uint32_t)out->len, (uint32_t)err->len};
  head[0] = (uint32_t)(sizeof head - 4 + out->len + err->len);
  pthread_mutex_lock(&out_lock);
  write_full(1, head, sizeof head);
  if (out->len) write_full(1, out->data, out->len);
  if (err->len) write_full(1, err->data, err->len);
  pthread_mutex_unlock(&out_lock);
}

static void refuse(uint32_t id, uint32_t why) {
  struct buf none = {0};
  answer(id, -1, 0, why, 0, &none, &none);
}

static void free_request(struct request *rq) {
  if (rq->argv)
    for (uint32_t i = 0; i < rq->argc; i++) free(rq->argv[i]);
  free(rq->argv);
  free(rq->body);
  free(rq);
}

/*
 * Checks the framed strings of a request's body and copies them into argv. Returns 0, or
 * -1 when the lengths do not add up to the body, argc is out of range, or a string holds
 * a NUL (it could not be an argument: the program would see it cut short).
 */
static int parse_body(struct request *rq, size_t body_len) {
  if (rq->argc < 1 || rq->argc > MAX_ARGC) return -1;
  rq->argv = calloc(rq->argc + 1, sizeof *rq->argv);
  if (!rq->argv) return -1;
  size_t at = 0;
  for (uint32_t i = 0; i < rq->argc; i++) {
    uint32_t n;
    if (body_len - at < sizeof n) return -1;
    memcpy(&n, rq->body + at, sizeof n);
    at += sizeof n;
    if (body_len - at < n || memchr(rq->body + at, 0, n)) return -1;
    rq->argv[i] = strndup(rq->body + at, n);
    if (!rq->argv[i]) return -1;
    at += n;
  }
  if (body_len - at != rq->stdin_len) return -1;
  rq->input = rq->body + at;
  return 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void *serve(void *arg) {
  struct request *rq = arg;
  struct buf out = {0}, err = {0};
  const char *input = rq->input;
  size_t input_left = rq->stdin_len;

  int in[2], o[2], e[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
    refuse(rq->id, (uint32_t)errno);
    goto done;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  posix_spawn_file_actions_adddup2(&fa, e[1], 2);
  /* the program starts with every signal at its default and none blocked, as from a shell,
     and leads a process group of its own, so that a kill reaches what it started */
  posix_spawnattr_t sa;
  posix_spawnattr_init(&sa);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&sa, &all);
  posix_spawnattr_setsigmask(&sa, &none);
  posix_spawnattr_setpgroup(&sa, 0);
  posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t pid;
  int rc = posix_spawnp(&pid, rq->argv[0], &fa, &sa, rq->argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&sa);
  close(in[0]);
  close(o[1]);
  close(e[1]);
  if (rc != 0) {
    close(in[1]);
    close(o[0]);
    close(e[0]);
    refuse(rq->id, (uint32_t)rc);
    goto done;
  }
  int in_fd = in[1];
  if (input_left == 0) {
    close_fd(&in_fd);
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  /* a pidfd wakes poll when the program exits; without one (old kernels) poll ticks */
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int64_t deadline = rq->timeout_ms ? now_ms() + rq->timeout_ms : 0;
  int64_t drain_until = 0;
  uint32_t flags = 0;
  int killed = 0, reaped = 0, status = 0;
  int fd[2] = {o[0], e[0]};
  struct buf *collected[2] = {&out, &err};
  const uint32_t cap_flag[2] = {FLAG_STDOUT_CAP, FLAG_STDERR_CAP};
  for (;;) {
    if (!reaped) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) reaped = 1;
    }
    int64_t now = now_ms();
    if (deadline && !killed && !reaped && now >= deadline) flags |= FLAG_TIMED_OUT;
    if ((flags & (FLAG_TIMED_OUT | FLAG_STDOUT_CAP | FLAG_STDERR_CAP)) && !killed) {
      kill(-pid, SIGKILL);
      killed = 1;
      close_fd(&in_fd);
    }
    if ((killed || reaped) && !drain_until) drain_until = now + DRAIN_MS;
    int drained = drain_until && now >= drain_until;
    if (drained && (fd[0] >= 0 || fd[1] >= 0)) flags |= FLAG_ABANDONED;
    if (drained) {
      close_fd(&fd[0]);
      close_fd(&fd[1]);
      close_fd(&in_fd); /* a descendant may hold stdin and never read it */
    }
    if (fd[0] < 0 && fd[1] < 0 && in_fd < 0 && (reaped || drained)) break;

    int64_t wait = -1;
    if (deadline && !killed && !reaped) wait = deadline - now;
    if (drain_until && (wait < 0 || drain_until - now < wait)) wait = drain_until - now;
    if (!reaped && pidfd < 0 && (wait < 0 || wait > 50)) wait = 50;
    if (wait < 0 && reaped && fd[0] < 0 && fd[1] < 0) wait = 0;
    struct pollfd pf[4] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}, {in_fd, POLLOUT, 0}, {reaped ? -1 : pidfd, POLLIN, 0}};
    if (poll(pf, 4, (int)(wait < 0 ? -1 : wait)) < 0 && errno != EINTR) break;
    for (int k = 0; k < 2; k++) {
      if (fd[k] < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char chunk[65536];
      ssize_t r = read(fd[k], chunk, sizeof chunk);
      if (r > 0) {
        size_t room = rq->out_cap - collected[k]->len;
        if ((size_t)r > room) {
          /* what passes the cap is not kept: the group is killed and the answer says which stream */
          buf_add(collected[k], chunk, room);
          flags |= cap_flag[k];
          close_fd(&fd[k]);
        } else {
          buf_add(collected[k], chunk, (size_t)r);
        }
      } else if (r == 0 || errno != EINTR) {
        close_fd(&fd[k]);
      }
    }
    if (in_fd >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_fd, input, input_left);
      if (w > 0) {
        input += w;
        input_left -= (size_t)w;
      }
      if (input_left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) close_fd(&in_fd);
    }
  }
  if (reaped && WIFEXITED(status)) answer(rq->id, WEXITSTATUS(status), 0, 0, flags, &out, &err);
  else if (reaped) answer(rq->id, -1, WIFSIGNALED(status) ? (uint32_t)WTERMSIG(status) : 0, 0, flags, &out, &err);
  else answer(rq->id, -1, SIGKILL, 0, flags, &out, &err); /* killed, not yet gone: reaped below */
  close_fd(&fd[0]);
  close_fd(&fd[1]);
  close_fd(&in_fd);
  if (pidfd >= 0) close(pidfd);
  if (!reaped)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
done:
  free(out.data);
  free(err.data);
  free_request(rq);
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
    uint32_t head[6];
    if (read_full(0, head, sizeof head)) return 0; /* lodged closed the pipe */
    if (head[0] < sizeof head - 4) {
      fprintf(stderr, "lodge-spawner: a request frame of %u bytes is shorter than its header\n", head[0]);
      return 1; /* the stream cannot be trusted past here: lodged starts a new spawner */
    }
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq) return 1;
    rq->id = head[1];
    rq->timeout_ms = head[2];
    rq->out_cap = head[3] && head[3] < MAX_OUTPUT ? head[3] : MAX_OUTPUT;
    rq->argc = head[4];
    rq->stdin_len = head[5];
    size_t body_len = head[0] - (sizeof head - 4);
    if (body_len > MAX_REQUEST) {
      if (skip_full(0, body_len)) return 1;
      refuse(rq->id, E2BIG);
      free_request(rq);
      continue;
    }
    rq->body = malloc(body_len + 1);
    if (!rq->body || read_full(0, rq->body, body_len)) return 1;
    if (parse_body(rq, body_len)) {
      refuse(rq->id, EINVAL);
      free_request(rq);
      continue;
    }
    pthread_t t;
    if (pthread_create(&t, &attr, serve, rq) != 0) {
      refuse(rq->id, EAGAIN);
      free_request(rq);
    }
  }
}
