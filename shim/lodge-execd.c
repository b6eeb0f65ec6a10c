/*
 * lodge-execd: `lodge exec` as streams in vm guests, on the virtio-serial port
 * org.lodge.exec.0 (the QEMU guest agent protocol gives a command's output only once it
 * has ended, and takes its input whole). Static, so it runs in any guest.
 *
 *   lodge-execd [DEVICE]
 *
 * Without DEVICE: in a pv guest (LODGE_KIND=pv on the kernel's command line) its second
 * serial line, /dev/ttyS1, which lodge-shim relays to lodged; elsewhere the port found in
 * /sys/class/virtio-ports, waited for a while after boot; where there is none (a ct, a
 * machine started by an older Lodge) it exits quietly. A serial line is a terminal: it is set
 * raw (no echo, no line editing, 8 bits), and lodge-execd says its MAGIC on it unasked (the
 * shim serves the line to lodged once the guest has spoken on it).
 *
 * Both ends speak frames: a type byte, a channel (4 bytes, big-endian), a length (4 bytes,
 * big-endian), then that many bytes, at most 64 KiB. A channel is one command, numbered by the host:
 *
 *   host -> guest: OPEN (flags: 1 on a terminal; argc, envc as 2-byte counts, then argv, env
 *     and the working directory as NUL-terminated strings), STDIN bytes, STDIN_END, SIGNAL
 *     (its number, one byte), ACK (4 bytes: output the host has passed on), CLOSE (the client
 *     left: kill it), RESIZE (a terminal's columns and rows, 2 bytes each).
 *   guest -> host: FAILED (what: 0 exec, 1 chdir; errno, 4 bytes; then strerror's words),
 *     STDOUT and STDERR bytes, ACK (4 bytes: stdin the command has taken), EXIT (the wait
 *     status, 4 bytes; also after CLOSE, once the command is gone: then the host may reuse the
 *     channel).
 *
 * Each side keeps at most WINDOW bytes of a channel in flight towards the other, so a reader
 * that does not keep up stalls its own command and no other, and neither side buffers more.
 * A connection begins with a MAGIC from each side (the host's and the guest's differ, so an
 * echo is no answer): a host that comes back (lodged restarted) finds the start of the
 * guest's frames after it, and the guest drops a frame a host that went away left half sent
 * once a second passes without input (the host says its MAGIC again until it is answered). A
 * new host, or one that went away (the port hangs up), ends every command: its clients are gone.
 * A command runs in a session of its own, so a signal reaches its process group. On a
 * terminal (a pty of the guest's, its controlling terminal), its input and output are the
 * terminal's, all of it STDOUT.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent-child.h"
#include "virtio-port.h"

#define PORT_NAME "org.lodge.exec.0"
#define HOST_MAGIC "\nLODGE-HOST/1\n"
#define MAGIC "\nLODGE-EXEC/1\n"
#define MAGIC_LEN (sizeof MAGIC - 1)
#define HEADER 9
#define MAX_FRAME (64 << 10)
#define MAX_CHANNELS 64
#define MAX_ARGS 4096
#define WINDOW (256 << 10)
#define CHUNK 65536

enum { OPEN = 1, STDIN = 2, STDIN_END = 3, SIGNAL = 4, ACK = 5, CLOSE = 6, RESIZE = 7 };
enum { FAILED = 17, STDOUT = 18, STDERR = 19, ACKED = 20, EXIT = 21 };

/* ---- growable byte buffers ---- */

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) exit(1);
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void buf_drop(struct buf *b, size_t n) {
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

static void buf_free(struct buf *b) {
  free(b->data);
  *b = (struct buf){0};
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the port ---- */

static int port = -1;
static struct buf tx, rx;
static int synced;
/* when the host last sent anything: a frame still half come a second later is dropped */
static struct timespec last_rx;

static void send_frame(int type, uint32_t channel, const void *payload, size_t n) {
  unsigned char h[HEADER];
  h[0] = (unsigned char)type;
  put32(h + 1, channel);
  put32(h + 5, (uint32_t)n);
  buf_add(&tx, h, HEADER);
  if (n) buf_add(&tx, payload, n);
}

static void send_u32(int type, uint32_t channel, uint32_t v) {
  unsigned char p[4];
  put32(p, v);
  send_frame(type, channel, p, 4);
}

static void flush_tx(void) {
  while (tx.len) {
    ssize_t n = write(port, tx.data, tx.len);
    if (n > 0) buf_drop(&tx, (size_t)n);
    else if (n < 0 && errno == EINTR) continue;
    else return; /* EAGAIN: the rest goes when the port takes it */
  }
}

/* ---- commands ---- */

struct chan {
  int used, closed, exited, status, tty;
  uint32_t id;
  pid_t pid;
  int in_fd, out_fd, err_fd, in_end;
  struct buf in;
  uint32_t credit; /* output the host still takes */
};

static struct chan chans[MAX_CHANNELS];

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static struct chan *find_chan(uint32_t id) {
  for (int i = 0; i < MAX_CHANNELS; i++)
    if (chans[i].used && chans[i].id == id) return &chans[i];
  return NULL;
}

static void free_chan(struct chan *c) {
  close_fd(&c->in_fd);
  close_fd(&c->out_fd);
  close_fd(&c->err_fd);
  buf_free(&c->in);
  *c = (struct chan){0};
}

static void failed(uint32_t id, int what, int err) {
  const char *words = strerror(err);
  size_t n = strlen(words);
  unsigned char p[5 + 200];
  if (n > 200) n = 200;
  p[0] = (unsigned char)what;
  put32(p + 1, (uint32_t)err);
  memcpy(p + 5, words, n);
  send_frame(FAILED, id, p, 5 + n);
}

/* the child: a session of its own, default signals, the pipes (or the terminal) as 0, 1 and 2; failures go to `report` */
static void spawn_child(char **argv, char **envp, const char *cwd, int in, int out, int err, int report) {
  become_command(in, out, err, envp);
  int what = 1;
  if (!*cwd || chdir(cwd) == 0) {
    what = 0;
    execvpe(argv[0], argv, envp);
  }
  int e[2] = {what, errno};
  (void)!write(report, e, sizeof e);
  _exit(127);
}

/* OPEN's payload: flags (1 byte, none yet), argc, envc (2 bytes each), then argc + envc + 1 strings */
static void open_chan(uint32_t id, const unsigned char *p, size_t n) {
  struct chan *c = NULL;
  for (int i = 0; i < MAX_CHANNELS && !c; i++)
    if (!chans[i].used) c = &chans[i];
  if (find_chan(id)) return failed(id, 0, EEXIST);
  if (!c) return failed(id, 0, EAGAIN);
  if (n < 5) return failed(id, 0, EINVAL);
  size_t argc = (size_t)p[1] << 8 | p[2], envc = (size_t)p[3] << 8 | p[4];
  if (argc < 1 || argc > MAX_ARGS || envc > MAX_ARGS) return failed(id, 0, E2BIG);
  char **strings = calloc(argc + envc + 3, sizeof *strings);
  if (!strings) exit(1);
  size_t at = 5, k = 0;
  for (; k < argc + envc + 1 && at < n; k++) {
    const unsigned char *end = memchr(p + at, 0, n - at);
    if (!end) break;
    strings[k] = (char *)p + at;
    at = (size_t)(end - p) + 1;
  }
  if (k != argc + envc + 1) {
    free(strings);
    return failed(id, 0, EINVAL);
  }
  /* argv ends with NULL; env follows it, then NULL; the working directory is last */
  char *cwd = strings[argc + envc];
  memmove(strings + argc + 1, strings + argc, envc * sizeof *strings);
  strings[argc] = NULL;
  strings[argc + 1 + envc] = NULL;
  /* pipes, or a terminal: its master is the command's input and output, its slave the command's 0, 1 and 2 */
  int in[2], out[2], err[2] = {-1, -1}, report[2];
  if (p[0] & 1) {
    if (openpty(&in[1], &in[0], NULL, NULL, NULL)) {
      free(strings);
      return failed(id, 0, errno);
    }
    fcntl(in[1], F_SETFD, FD_CLOEXEC), fcntl(in[0], F_SETFD, FD_CLOEXEC);
    out[0] = fcntl(in[1], F_DUPFD_CLOEXEC, 0), out[1] = fcntl(in[0], F_DUPFD_CLOEXEC, 0);
    err[1] = fcntl(in[0], F_DUPFD_CLOEXEC, 0);
  } else if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    exit(1);
  }
  if (pipe2(report, O_CLOEXEC)) exit(1);
  pid_t pid = fork();
  if (pid == 0) spawn_child(strings, strings + argc + 1, cwd, in[0], out[1], err[1], report[1]);
  free(strings);
  close(in[0]), close(out[1]), close(err[1]), close(report[1]);
  int e[2];
  ssize_t got = pid < 0 ? 0 : read(report[0], e, sizeof e);
  close(report[0]);
  if (pid < 0 || got == (ssize_t)sizeof e) {
    close(in[1]), close(out[0]);
    if (err[0] >= 0) close(err[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return failed(id, pid < 0 ? 0 : e[0], pid < 0 ? errno : e[1]);
  }
  *c = (struct chan){.used = 1, .id = id, .pid = pid, .in_fd = in[1], .out_fd = out[0], .err_fd = err[0], .credit = WINDOW, .tty = p[0] & 1};
  fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
  fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
  if (c->err_fd >= 0) fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
}

static void handle(int type, uint32_t id, const unsigned char *p, size_t n) {
  if (type == OPEN) return open_chan(id, p, n);
  struct chan *c = find_chan(id);
  if (!c || c->closed) return; /* a command that ended or was closed: what was in flight */
  switch (type) {
  case STDIN:
    if (c->in_fd < 0) return send_u32(ACKED, id, (uint32_t)n); /* it closed its input: taken and dropped */
    if (c->in.len + n > WINDOW) n = WINDOW - c->in.len;      /* past the window: a host that broke its word */
    buf_add(&c->in, p, n);
    break;
  case STDIN_END:
    /* a terminal's input has no end but the one typed (Ctrl-D): its master stays */
    c->in_end = !c->tty;
    if (c->in_end && !c->in.len) close_fd(&c->in_fd);
    break;
  case SIGNAL:
    if (n == 1 && p[0] > 0 && p[0] < NSIG && !c->exited) kill(-c->pid, p[0]);
    break;
  case ACK:
    if (n == 4) c->credit = c->credit + get32(p) > WINDOW ? WINDOW : c->credit + get32(p);
    break;
  case RESIZE:
    if (n == 4 && c->tty && c->in_fd >= 0) {
      struct winsize ws = {.ws_col = (unsigned short)(p[0] << 8 | p[1]), .ws_row = (unsigned short)(p[2] << 8 | p[3])};
      ioctl(c->in_fd, TIOCSWINSZ, &ws);
    }
    break;
  case CLOSE:
    c->closed = 1;
    if (!c->exited) kill(-c->pid, SIGKILL);
    close_fd(&c->in_fd);
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    break;
  }
}

static void kill_all(void) {
  for (int i = 0; i < MAX_CHANNELS; i++) {
    if (!chans[i].used) continue;
    if (!chans[i].exited) kill(-chans[i].pid, SIGKILL);
    free_chan(&chans[i]);
  }
}

/*
 * Frames from the host, after its MAGIC. A MAGIC begins a new host (lodged came back): the
 * commands of the one before end. Anything that is not a frame of ours (a host that broke
 * off mid-frame) is passed over until the next MAGIC.
 */
static void take(const char *data, size_t n) {
  buf_add(&rx, data, n);
  size_t off = 0;
  for (;;) {
    if (!synced) {
      char *at = memmem(rx.data + off, rx.len - off, HOST_MAGIC, MAGIC_LEN);
      if (!at) {
        off = rx.len > MAGIC_LEN ? rx.len - MAGIC_LEN : 0;
        break;
      }
      off = (size_t)(at - rx.data) + MAGIC_LEN;
      kill_all();
      tx.len = 0;
      buf_add(&tx, MAGIC, MAGIC_LEN);
      synced = 1;
    }
    if (rx.len - off < HEADER) break;
    const unsigned char *h = (const unsigned char *)rx.data + off;
    uint32_t len = get32(h + 5);
    if (h[0] < OPEN || h[0] > RESIZE || len > MAX_FRAME) {
      synced = 0;
      continue;
    }
    if (rx.len - off < HEADER + len) break;
    handle(h[0], get32(h + 1), h + HEADER, len);
    off += HEADER + len;
  }
  buf_drop(&rx, off);
}

/* the host went away: its clients with it, so their commands end; nothing half sent is kept */
static void host_gone(void) {
  kill_all();
  synced = 0;
  rx.len = tx.len = 0;
}

static void read_output(struct chan *c, int *fd, int type) {
  char chunk[CHUNK];
  size_t want = c->credit < sizeof chunk ? c->credit : sizeof chunk;
  ssize_t n = read(*fd, chunk, want);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close_fd(fd);
  c->credit -= (uint32_t)n;
  send_frame(type, c->id, chunk, (size_t)n);
}

static void write_input(struct chan *c) {
  ssize_t n = write(c->in_fd, c->in.data, c->in.len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  size_t taken = n < 0 ? c->in.len : (size_t)n; /* EPIPE: it closed its input, the rest is dropped */
  if (n < 0) close_fd(&c->in_fd);
  buf_drop(&c->in, taken);
  send_u32(ACKED, c->id, (uint32_t)taken);
  if (c->in_fd >= 0 && !c->in.len && c->in_end) close_fd(&c->in_fd);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CHANNELS; i++) {
      if (chans[i].used && chans[i].pid == pid) chans[i].exited = 1, chans[i].status = status;
    }
  }
  /* a command is over once it has exited and its outputs have ended (or it was closed) */
  for (int i = 0; i < MAX_CHANNELS; i++) {
    struct chan *c = &chans[i];
    if (c->used && c->exited && c->out_fd < 0 && c->err_fd < 0) {
      send_u32(EXIT, c->id, (uint32_t)c->status);
      free_chan(c);
    }
  }
}


/* a pv guest (LODGE_KIND=pv on its kernel's command line) speaks on its second serial line */
static int paravirtual(void) {
  char line[4096] = "";
  FILE *f = fopen("/proc/cmdline", "re");
  if (!f) return 0;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  return strstr(line, "LODGE_KIND=pv") != NULL;
}

int main(int argc, char **argv) {
  char dev[256];
  if (argc > 1) {
    snprintf(dev, sizeof dev, "%s", argv[1]);
  } else if (paravirtual()) {
    snprintf(dev, sizeof dev, "/dev/ttyS1");
  } else if (wait_for_port(PORT_NAME, dev, sizeof dev)) {
    return 0;
  }
  if ((port = open_port(dev, "lodge-execd")) < 0) return 1;
  signal(SIGPIPE, SIG_IGN);
  struct termios raw;
  if (tcgetattr(port, &raw) == 0) {
    cfmakeraw(&raw);
    tcsetattr(port, TCSANOW, &raw);
    (void)!write(port, MAGIC, MAGIC_LEN);
  }
  int host_away = 0;
  for (;;) {
    struct pollfd fds[1 + 3 * MAX_CHANNELS];
    int *which[1 + 3 * MAX_CHANNELS];
    struct chan *owner[1 + 3 * MAX_CHANNELS];
    int n = 0, busy = 0;
    /* with no host on the other end the port reads as hung up: look again in a while rather than spin */
    if (!host_away) fds[n] = (struct pollfd){.fd = port, .events = POLLIN | (tx.len ? POLLOUT : 0)}, which[n] = NULL, owner[n++] = NULL;
    for (int i = 0; i < MAX_CHANNELS; i++) {
      struct chan *c = &chans[i];
      if (!c->used) continue;
      if (!c->exited) busy = 1;
      if (c->in_fd >= 0 && c->in.len) fds[n] = (struct pollfd){.fd = c->in_fd, .events = POLLOUT}, which[n] = &c->in_fd, owner[n++] = c;
      if (c->out_fd >= 0 && c->credit) fds[n] = (struct pollfd){.fd = c->out_fd, .events = POLLIN}, which[n] = &c->out_fd, owner[n++] = c;
      if (c->err_fd >= 0 && c->credit) fds[n] = (struct pollfd){.fd = c->err_fd, .events = POLLIN}, which[n] = &c->err_fd, owner[n++] = c;
    }
    /* a command's exit comes as SIGCHLD, which only shortens the wait: look for it often while one runs */
    int ready = poll(fds, (nfds_t)n, host_away ? 100 : busy ? 20 : 1000);
    if (ready < 0 && errno != EINTR) return 1;
    if (host_away) {
      struct pollfd p = {.fd = port, .events = POLLIN};
      host_away = poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
      continue;
    }
    for (int i = 0; ready > 0 && i < n; i++) {
      if (!fds[i].revents) continue;
      if (!owner[i]) {
        if (fds[i].revents & POLLHUP) {
          host_gone();
          host_away = 1;
          break;
        }
        char chunk[CHUNK];
        ssize_t got = (fds[i].revents & POLLIN) ? read(port, chunk, sizeof chunk) : 0;
        if (got > 0) clock_gettime(CLOCK_MONOTONIC, &last_rx), take(chunk, (size_t)got);
      } else if (*which[i] == fds[i].fd) {
        struct chan *c = owner[i];
        if (which[i] == &c->in_fd) write_input(c);
        else read_output(c, which[i], which[i] == &c->out_fd ? STDOUT : STDERR);
      }
    }
    reap();
    if (rx.len && synced) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - last_rx.tv_sec > 1) synced = 0, rx.len = 0;
    }
    if (synced) flush_tx();
  }
}
