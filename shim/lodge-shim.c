/*
 * lodge-shim: holds one guest's console and exit status so that both outlive lodged.
 *
 * lodged starts one shim per guest. The shim detaches (double fork, setsid), becomes a
 * child subreaper so that the guest's main process is its child, and then:
 *   - keeps the console's pty master, appending what the guest prints to DIR/console.log
 *     (bounded: at --log-max bytes the log turns over to DIR/console.log.1);
 *   - serves DIR/attach.sock, a stream socket: bytes read from the console go to every
 *     attached client, bytes a client writes go to the console;
 *   - when the main process ends, writes DIR/exit ("exit N" or "signal N") and exits;
 *     the record appears whole or not at all (written aside, flushed, renamed).
 *
 * The command starts as from a clean exec, whatever the shim's caller had: its stdio and
 * nothing else open, every signal at its default action, none blocked (the shim itself
 * ignores SIGPIPE and SIGHUP; an engine or a container's init must not inherit that).
 *
 * With --join, the command first joins those cgroups (their cgroup.procs files); with
 * --user, it then drops to that uid (and the same gid, no supplementary groups); with
 * --pidfile in pty mode, the shim writes the main pid there. With --mount-overlay OPTIONS
 * TARGET, the shim first moves into a mount namespace of its own (slave to the host's)
 * and mounts the overlay there: the command (an OCI runtime's `create`) makes the
 * container's namespace as a copy of it, and the host's mount table keeps no line per
 * guest. Every new mount namespace copies the host's table and runc reads
 * /proc/self/mountinfo several times per container, so at thousands of guests a line each
 * made every launch slower than the one before. The overlay goes when the guest ends.
 *
 * Two ways to get the console:
 *   --console-socket  CMD is an OCI runtime's `create`; it hands the pty master back over
 *                     DIR/console.sock (SCM_RIGHTS) and the main pid is read from --pidfile.
 *   (default)         the shim makes a pty and runs CMD on its slave; CMD is the main process.
 *
 * With --channel (pty mode), the command also gets a line of two pipes, fd 4 to read and fd 5
 * to write, which the shim serves on DIR/exec.sock once the command has first written to it
 * (so that its being there says something in the guest speaks on the line), to one client at
 * a time (others are closed at once). A paravirtual guest's second serial line is this pair:
 * lodge-execd in the guest speaks to lodged over it (src/drivers/exec-frames.ts). Pipes, not
 * a socket pair: UML waits for SIGIO, which a unix stream socket sends a reader that does not
 * block only once. Bytes pass both ways at the pace of the slower side; what the guest sends
 * while no client is connected is dropped.
 *
 * The first line on stdout tells the caller the outcome: "ok SHIMPID MAINPID" or
 * "error MESSAGE". Why C and not conmon: conmon's attach socket is SOCK_SEQPACKET, which
 * Node's net module cannot open, and a few hundred KB per guest matters at thousands of guests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 16

static const char *dir;
static long log_max = 1 << 20;
static int log_fd = -1;
static long log_size;
static int report_fd = -1; /* write end of the pipe to the waiting parent */

static void path_in_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void report(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (len < 0) return;
  if (len > (int)sizeof buf - 2) len = sizeof buf - 2;
  for (int i = 0; i < len; i++)
    if (buf[i] == '\n') buf[i] = ' ';
  buf[len++] = '\n';
  if (report_fd >= 0) {
    (void)!write(report_fd, buf, len);
    close(report_fd);
    report_fd = -1;
  }
}

static void fail(const char *what) {
  report("error %s: %s", what, strerror(errno));
  exit(1);
}

static void mount_private_overlay(const char *options, const char *target) {
  if (unshare(CLONE_NEWNS) < 0) fail("unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) fail("making the mounts slave");
  if (mount("overlay", target, "overlay", 0, options) < 0) {
    report("error mounting the overlay root on %s: %s", target, strerror(errno));
    exit(1);
  }
}

static int listen_unix(const char *name) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  char path[sizeof addr.sun_path];
  path_in_dir(path, sizeof path, name);
  if (strlen(path) >= sizeof addr.sun_path - 1) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) return -1;
  chmod(path, 0600);
  return fd;
}

/* Closes every descriptor from `first` up. */
static void close_from(int first) {
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  /* kernels before 5.9 */
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd < (max > 0 ? max : 1024); fd++) close(fd);
}

static void open_log(void) {
  char path[4096];
  path_in_dir(path, sizeof path, "console.log");
  log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  struct stat st;
  log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

/*
 * Appends to console.log; at log_max bytes it turns over to console.log.1, so that the
 * two files hold at least the newest log_max bytes, in order. A chunk bigger than the
 * cap keeps its tail; a log that could not be opened is tried again at the next chunk.
 */
static void append_log(const char *buf, ssize_t n) {
  if (n > log_max) {
    buf += n - log_max;
    n = log_max;
  }
  if (log_fd < 0) open_log();
  if (log_fd < 0) return;
  if (log_size + n > log_max && log_size > 0) {
    char cur[4096], old[4096];
    path_in_dir(cur, sizeof cur, "console.log");
    path_in_dir(old, sizeof old, "console.log.1");
    close(log_fd);
    rename(cur, old);
    open_log();
    if (log_fd < 0) return;
  }
  while (n > 0) {
    ssize_t w = write(log_fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    log_size += w;
    buf += w;
    n -= w;
  }
}

static void write_exit(int status) {
  char tmp[4096], path[4096], line[64];
  path_in_dir(tmp, sizeof tmp, "exit.tmp");
  path_in_dir(path, sizeof path, "exit");
  int len = WIFSIGNALED(status) ? snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status))
                                : snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
  /* the record appears whole or not at all, also across a host crash: written aside,
     flushed, renamed in place, and the directory flushed */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int ok = write(fd, line, len) == len && fsync(fd) == 0;
  if (close(fd) < 0) ok = 0;
  if (!ok || rename(tmp, path) < 0) {
    unlink(tmp);
    return;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

/* Receives the pty master an OCI runtime sends over the console socket. */
static int receive_fd(int conn) {
  char data[256];
  /* aligned for struct cmsghdr; room for a few descriptors, so that a sender of more than
     one is seen (and its extra descriptors closed) rather than silently truncated */
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(4 * sizeof(int))];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  /* exactly one descriptor, in an SCM_RIGHTS message, is the protocol: anything else is
     refused, and every descriptor that came with it closed */
  int fd = -1, received = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; k++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
      if (received++ == 0) fd = got;
      else close(got);
    }
  }
  if (received != 1 || (msg.msg_flags & MSG_CTRUNC)) {
    if (fd >= 0) close(fd);
    errno = EPROTO;
    return -1;
  }
  return fd;
}

/* --channel: the shim's ends of the line (what the command writes, what it reads), and the command's until it runs */
static int chan_in = -1, chan_out = -1, child_in = -1, child_out = -1;
static int want_channel;

/* cgroup.procs files the command joins before it runs, so none of its children escape them */
static const char *joins[8];
static int njoins;
/* the unprivileged user the command runs as (0: as the shim's caller) */
static uid_t run_uid;

/* Sets `sig` to its default action; by the kernel's call, since glibc's refuses its own two (32, 33). */
static void default_signal(int sig) {
  unsigned long action[8] = {0}; /* a kernel sigaction of zeros: SIG_DFL, no flags, an empty mask */
  syscall(SYS_rt_sigaction, sig, action, NULL, NSIG / 8);
}

/* In spawn's child: says why it cannot run the command, on its stderr and to the waiting shim. */
static void child_fail(int err, int status_fd, const char *fmt, ...) {
  char why[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  dprintf(err, "%s\n", why);
  (void)!write(status_fd, why, strlen(why));
  _exit(126);
}

/* Forks and runs argv; returns once the command runs (its exec done), so that the pid
   reported is the command's and not a copy of the shim. A command that cannot start is
   reported as an error, with its reason, and the shim ends. */
static pid_t spawn(char **argv, int in, int out, int err, int ctty) {
  int status[2]; /* closed by the exec: an empty read means the command runs */
  if (pipe2(status, O_CLOEXEC) < 0) fail("pipe");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid != 0) {
    close(status[1]);
    char why[1024];
    ssize_t n;
    while ((n = read(status[0], why, sizeof why - 1)) < 0 && errno == EINTR) {
    }
    close(status[0]);
    if (n > 0) {
      why[n] = 0;
      waitpid(pid, NULL, 0);
      report("error %s", why);
      exit(1);
    }
    return pid;
  }
  close(status[0]);
  for (int i = 0; i < njoins; i++) {
    int fd = open(joins[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0\n", 2) != 2) child_fail(err, status[1], "cannot join cgroup %s: %s", joins[i], strerror(errno));
    close(fd);
  }
  if (run_uid && (setgroups(0, NULL) < 0 || setgid(run_uid) < 0 || setuid(run_uid) < 0))
    child_fail(err, status[1], "cannot become user %d: %s", (int)run_uid, strerror(errno));
  if (ctty >= 0) {
    setsid();
    ioctl(ctty, TIOCSCTTY, 0);
  }
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  /* out of the way of 3 to 5 first, wherever the pipes were made */
  int line_in = child_in >= 0 ? fcntl(child_in, F_DUPFD_CLOEXEC, 10) : -1;
  int line_out = child_out >= 0 ? fcntl(child_out, F_DUPFD_CLOEXEC, 10) : -1;
  /* the status pipe moves to 3, still closed by the exec */
  if (status[1] != 3) dup3(status[1], 3, O_CLOEXEC);
  if (line_in >= 0) dup2(line_in, 4), dup2(line_out, 5);
  /* the command (an engine, an OCI runtime and through it a container's init) starts as
     from a clean exec: only its stdio (and its line) open, every signal at its default, none blocked */
  close_from(line_in >= 0 ? 6 : 4);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) default_signal(sig);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execvp(argv[0], argv);
  child_fail(2, 3, "cannot run %s: %s", argv[0], strerror(errno));
  return -1;
}

/* Runs the runtime's create, collecting its stderr and the pty master it sends us. */
static pid_t start_with_console_socket(char **argv, const char *pidfile, int *master) {
  int sock = listen_unix("console.sock");
  if (sock < 0) fail("console socket");
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) fail("pipe");
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t pid = spawn(argv, devnull, errpipe[1], errpipe[1], -1);
  close(errpipe[1]);
  char errbuf[2048] = "";
  size_t errlen = 0;
  *master = -1;
  for (;;) {
    struct pollfd p[2] = {{.fd = errpipe[0], .events = POLLIN}, {.fd = sock, .events = POLLIN}};
    if (poll(p, *master < 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (*master < 0 && (p[1].revents & POLLIN)) {
      int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) {
        *master = receive_fd(conn);
        close(conn);
      }
    }
    if (p[0].revents) {
      ssize_t n = read(errpipe[0], errbuf + errlen, sizeof errbuf - 1 - errlen);
      if (n <= 0) break;
      errlen += n;
      if (errlen == sizeof errbuf - 1) {
        /* keep the newer half, in order: the reason is last */
        size_t half = errlen / 2;
        memmove(errbuf, errbuf + errlen - half, half);
        errlen = half;
      }
    }
  }
  errbuf[errlen] = 0;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  close(sock);
  char path[4096];
  path_in_dir(path, sizeof path, "console.sock");
  unlink(path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    report("error %s failed: %s", argv[0], errbuf[0] ? errbuf : "no message");
    exit(1);
  }
  if (*master < 0) {
    report("error %s sent no console", argv[0]);
    exit(1);
  }
  FILE *f = fopen(pidfile, "r");
  long main_pid = 0;
  if (!f || fscanf(f, "%ld", &main_pid) != 1 || main_pid <= 0) {
    report("error cannot read the main pid from %s", pidfile);
    exit(1);
  }
  fclose(f);
  return (pid_t)main_pid;
}

static pid_t start_on_pty(char **argv, const char *pidfile, int *master) {
  int slave;
  if (openpty(master, &slave, NULL, NULL, NULL) < 0) fail("openpty");
  fcntl(*master, F_SETFD, FD_CLOEXEC);
  pid_t pid = spawn(argv, slave, slave, slave, slave);
  close(slave);
  if (child_in >= 0) close(child_in), close(child_out);
  if (pidfile) {
    FILE *f = fopen(pidfile, "w");
    if (!f) fail("pidfile");
    fprintf(f, "%d\n", pid);
    fclose(f);
  }
  return pid;
}

/* bytes on their way from one side of the channel to the other */
struct relay {
  char data[65536];
  size_t len;
};
static struct relay to_client, to_guest;
static int chan_client = -1, chan_sock = -1;

/* writes what `r` holds to `fd` (which does not block) as far as it takes it now; -1 if `fd` is gone */
static int pass_on(struct relay *r, int fd) {
  while (r->len) {
    ssize_t n = write(fd, r->data, r->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    memmove(r->data, r->data + n, r->len - (size_t)n);
    r->len -= (size_t)n;
  }
  return 0;
}

static void drop_chan_client(void) {
  close(chan_client);
  chan_client = -1;
  to_client.len = to_guest.len = 0;
}

/* the channel's four poll entries: its listening socket, the line's two ends, the client */
static void chan_poll(struct pollfd *p) {
  p[0] = (struct pollfd){.fd = chan_sock, .events = POLLIN};
  p[1] = (struct pollfd){.fd = to_client.len ? -1 : chan_in, .events = POLLIN};
  p[2] = (struct pollfd){.fd = to_guest.len ? chan_out : -1, .events = POLLOUT};
  p[3] = (struct pollfd){.fd = chan_client, .events = (to_guest.len ? 0 : POLLIN) | (to_client.len ? POLLOUT : 0)};
}

static void chan_relay(const struct pollfd *p) {
  if (p[0].fd >= 0 && (p[0].revents & POLLIN)) {
    int c = accept4(chan_sock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0 && chan_client < 0) chan_client = c;
    else if (c >= 0) close(c);
  }
  if (p[1].fd >= 0 && p[1].revents) {
    ssize_t n = read(chan_in, to_client.data, sizeof to_client.data);
    /* -2: the socket could not be made, and is not tried again (the console goes on) */
    if (n > 0 && chan_sock == -1 && (chan_sock = listen_unix("exec.sock")) < 0) chan_sock = -2;
    if (n > 0) to_client.len = chan_client >= 0 ? (size_t)n : 0; /* no client: dropped */
    else if (n == 0 || errno != EAGAIN) chan_in = -1;             /* the command closed it: poll it no more */
  }
  if (p[3].fd >= 0 && (p[3].revents & POLLIN)) {
    ssize_t n = read(chan_client, to_guest.data, sizeof to_guest.data);
    if (n > 0) to_guest.len = (size_t)n;
    else if (n == 0 || errno != EAGAIN) return drop_chan_client();
  }
  if (chan_client >= 0 && ((p[3].revents & (POLLHUP | POLLERR)) || pass_on(&to_client, chan_client) < 0)) return drop_chan_client();
  if (chan_out >= 0 && pass_on(&to_guest, chan_out) < 0) to_guest.len = 0;
}

static void serve(int master, pid_t main_pid, int sigfd) {
  int lsock = listen_unix("attach.sock");
  if (lsock < 0) fail("attach socket");
  if (chan_in >= 0) fcntl(chan_in, F_SETFL, O_NONBLOCK), fcntl(chan_out, F_SETFL, O_NONBLOCK);
  int clients[MAX_CLIENTS];
  int nclients = 0;
  /* With no slave open (the guest closed or hung up its console, as systemd does at boot),
     the master reports HUP at once on every poll; it is then left out of the poll set and
     tried again after a pause, until the guest opens its console again. */
  int hung = 0;
  fcntl(master, F_SETFL, O_NONBLOCK);
  char buf[65536];
  report("ok %d %d", getpid(), main_pid);
  for (;;) {
    struct pollfd p[7 + MAX_CLIENTS];
    int n = 0;
    p[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = lsock, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = hung ? -1 : master, .events = POLLIN};
    /* the channel's entries come before the clients', whose slots move as they leave */
    chan_poll(p + n);
    n += 4;
    for (int i = 0; i < nclients; i++) p[n++] = (struct pollfd){.fd = clients[i], .events = POLLIN};
    int ready = poll(p, n, hung ? 100 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (hung && ready == 0) {
      hung = 0;
      continue;
    }
    if (p[2].revents) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0) {
        append_log(buf, r);
        for (int i = 0; i < nclients; i++)
          if (send(clients[i], buf, r, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            shutdown(clients[i], SHUT_RDWR); /* the read below sees the end and drops it */
      } else if (r == 0 || errno != EAGAIN) {
        hung = 1;
      }
    }
    chan_relay(p + 3);
    for (int i = 0; i < nclients; i++) {
      if (!p[7 + i].revents) continue;
      ssize_t r = read(clients[i], buf, sizeof buf);
      if (r > 0) {
        (void)!write(master, buf, r);
      } else if (r <= 0) {
        close(clients[i]);
        /* move the last client into this slot, and its poll result with it */
        p[7 + i] = p[7 + nclients - 1];
        clients[i--] = clients[--nclients];
      }
    }
    if (p[1].revents & POLLIN) {
      int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0 && nclients < MAX_CLIENTS)
        clients[nclients++] = c;
      else if (c >= 0)
        close(c);
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      (void)!read(sigfd, &si, sizeof si);
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != main_pid) continue;
        /* drain what the guest printed last before recording the end */
        ssize_t r;
        while ((r = read(master, buf, sizeof buf)) > 0) append_log(buf, r);
        write_exit(status);
        char path[4096];
        path_in_dir(path, sizeof path, "attach.sock");
        unlink(path);
        if (chan_sock >= 0) {
          path_in_dir(path, sizeof path, "exec.sock");
          unlink(path);
        }
        exit(0);
      }
    }
  }
}

int main(int argc, char **argv) {
  int use_console_socket = 0;
  const char *pidfile = NULL;
  const char *overlay_options = NULL, *overlay_target = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--log-max") && i + 1 < argc)
      log_max = atol(argv[++i]);
    else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
      pidfile = argv[++i];
    else if (!strcmp(argv[i], "--console-socket"))
      use_console_socket = 1;
    else if (!strcmp(argv[i], "--channel"))
      want_channel = 1;
    else if (!strcmp(argv[i], "--user") && i + 1 < argc)
      run_uid = (uid_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--join") && i + 1 < argc && njoins < 8)
      joins[njoins++] = argv[++i];
    else if (!strcmp(argv[i], "--mount-overlay") && i + 2 < argc) {
      overlay_options = argv[++i];
      overlay_target = argv[++i];
    }    else if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else {
      fprintf(stderr, "usage: lodge-shim --dir DIR [--log-max BYTES] [--pidfile FILE] [--console-socket | --channel] [--join CGROUP_PROCS]... [--user UID] [--mount-overlay OPTIONS TARGET] -- CMD...\n");
      return 2;
    }
  }
  if (!dir || i >= argc || (use_console_socket && !pidfile) || (use_console_socket && want_channel) || log_max < 4096) {
    fprintf(stderr, "lodge-shim: --dir and a command are required (and --pidfile with --console-socket, which takes no --channel)\n");
    return 2;
  }
  /* nothing its caller had open outlives the call in the shim or reaches the command */
  close_from(3);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return 1;
  pid_t first = fork();
  if (first < 0) return 1;
  if (first > 0) {
    /* the caller's child: relay the outcome line, then leave the shim to init */
    close(pipefd[1]);
    char line[4096];
    ssize_t n = read(pipefd[0], line, sizeof line);
    if (n <= 0) {
      printf("error lodge-shim ended before reporting\n");
      return 1;
    }
    (void)!write(1, line, n);
    return strncmp(line, "ok ", 3) == 0 ? 0 : 1;
  }
  close(pipefd[0]);
  report_fd = pipefd[1];
  setsid();
  if (fork() != 0) _exit(0);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (sigfd < 0) fail("signalfd");
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  close(devnull);
  char path[4096];
  path_in_dir(path, sizeof path, "exit");
  unlink(path);
  open_log();
  if (overlay_options) mount_private_overlay(overlay_options, overlay_target);

  if (want_channel) {
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0) fail("pipe");
    child_in = down[0], chan_out = down[1];
    chan_in = up[0], child_out = up[1];
  }
  int master;
  pid_t main_pid = use_console_socket ? start_with_console_socket(argv + i, pidfile, &master) : start_on_pty(argv + i, pidfile, &master);
  serve(master, main_pid, sigfd);
  return 0;
}
