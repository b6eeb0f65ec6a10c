/*
 * lodge-ga: a minimal QEMU guest agent for Lodge's busybox image, where Debian's
 * qemu-guest-agent (glib and all) does not fit. It speaks the subset of the QEMU guest
 * agent protocol (QGA) that lodged uses, exactly as qemu-ga does, so that lodged's client
 * works the same against both:
 *
 *   guest-sync-delimited, guest-sync, guest-ping, guest-info,
 *   guest-exec (path, arg, env, input-data, capture-output), guest-exec-status (pid),
 *   guest-file-open (path, mode), guest-file-read (handle, count),
 *   guest-file-write (handle, buf-b64, count), guest-file-close (handle)
 *
 *   lodge-ga [DEVICE]
 *
 * Without DEVICE it finds the virtio-serial port named org.qemu.guest_agent.0 in
 * /sys/class/virtio-ports (busybox has no udev to make /dev/virtio-ports/...), waiting for
 * it a while after boot; where there is no virtio-serial at all (a ct or pv guest) it exits
 * quietly. Requests are JSON objects, framed by their braces; a 0xFF byte drops a half
 * request (the host sends one to resync). Each request is capped (4 MiB: stdin comes
 * inside it), nesting is capped, and each command's stdout and stderr are kept up to
 * 16 MiB each: past that the command's process group is killed and the status says
 * out-truncated or err-truncated (qemu-ga drops the rest instead; lodged refuses both).
 * A command runs in a session of its own, with stdin from input-data (or /dev/null).
 * Files are opened as the guest's root would open them (paths are the guest's own business),
 * but never blocking the agent: a FIFO opened for reading reads as empty rather than wait
 * for a writer. A read takes at most 4 MiB at a time; at most 16 files are open at once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-child.h"
#include "virtio-port.h"

#define PORT_NAME "org.qemu.guest_agent.0"
#define MAX_REQUEST (4 << 20)
#define MAX_OUTPUT (16 << 20)
#define MAX_DEPTH 16
#define MAX_PROCS 64
#define MAX_ARGS 4096
#define MAX_FILES 16
#define MAX_READ (4 << 20)

/* ---- growable byte buffers ---- */

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_grow(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) {
    fprintf(stderr, "lodge-ga: out of memory\n");
    exit(1);
  }
  b->data = d;
  b->cap = cap;
}

static void buf_add(struct buf *b, const void *p, size_t n) {
  buf_grow(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  buf_grow(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* a string literal, its length counted by the compiler */
#define ADD(b, literal) buf_add((b), (literal), sizeof(literal) - 1)

static void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* a JSON string of `n` bytes */
static void buf_string(struct buf *b, const char *s, size_t n) {
  ADD(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      ADD(b, "\\");
      buf_add(b, &s[i], 1);
    } else if (c < 0x20 || c == 0x7f) {
      buf_printf(b, "\\u%04x", c);
    } else {
      buf_add(b, &s[i], 1);
    }
  }
  ADD(b, "\"");
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void buf_base64(struct buf *b, const unsigned char *p, size_t n) {
  buf_grow(b, (n + 2) / 3 * 4 + 2);
  char *o = b->data + b->len;
  *o++ = '"';
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
    *o++ = b64[v >> 18];
    *o++ = b64[v >> 12 & 63];
    *o++ = b64[v >> 6 & 63];
    *o++ = b64[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
    *o++ = b64[v >> 18];
    *o++ = b64[v >> 12 & 63];
    *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
    *o++ = '=';
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
}

/* decodes base64 in place; -1 if it is not base64 */
static long base64_decode(char *s, size_t n) {
  size_t out = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    const char *at = s[i] ? strchr(b64, s[i]) : NULL;
    if (!at) {
      if (s[i] == '=') break;
      if (s[i] == '\n' || s[i] == '\r') continue;
      return -1;
    }
    v = v << 6 | (unsigned)(at - b64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      s[out++] = (char)(v >> bits & 0xff);
    }
  }
  return (long)out;
}

/* ---- a JSON parser for one request ---- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
  int type;
  long long num;
  char *str; /* J_STR: NUL-terminated, no NUL inside */
  size_t len;
  size_t n;
  struct json **items;
  char **keys; /* J_OBJ */
};

struct parser {
  const char *p, *end;
  const char *error;
};

static void json_free(struct json *j) {
  if (!j) return;
  for (size_t i = 0; i < j->n; i++) {
    json_free(j->items[i]);
    if (j->keys) free(j->keys[i]);
  }
  free(j->items);
  free(j->keys);
  free(j->str);
  free(j);
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static void put_utf8(struct buf *b, unsigned c) {
  char u[4];
  size_t n;
  if (c < 0x80) u[0] = (char)c, n = 1;
  else if (c < 0x800) u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 63)), n = 2;
  else if (c < 0x10000) u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | (c >> 6 & 63)), u[2] = (char)(0x80 | (c & 63)), n = 3;
  else u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | (c >> 12 & 63)), u[2] = (char)(0x80 | (c >> 6 & 63)), u[3] = (char)(0x80 | (c & 63)), n = 4;
  buf_add(b, u, n);
}

static int hex4(struct parser *ps, unsigned *out) {
  if (ps->end - ps->p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *ps->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* after the opening quote; the string's bytes into a new NUL-terminated buffer */
static char *parse_string(struct parser *ps, size_t *len) {
  struct buf b = {0};
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p++;
    if (c < 0x20) goto bad;
    if (c != '\\') {
      buf_add(&b, &c, 1);
      continue;
    }
    if (ps->p >= ps->end) goto bad;
    char e = *ps->p++;
    const char *plain = strchr("\"\\/bfnrt", e);
    if (e && plain) {
      static const char out[] = "\"\\/\b\f\n\r\t";
      buf_add(&b, &out[plain - "\"\\/bfnrt"], 1);
    } else if (e == 'u') {
      unsigned u, lo;
      if (hex4(ps, &u)) goto bad;
      if (u >= 0xd800 && u < 0xdc00) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') goto bad;
        ps->p += 2;
        if (hex4(ps, &lo) || lo < 0xdc00 || lo >= 0xe000) goto bad;
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
      } else if (u >= 0xdc00 && u < 0xe000) {
        goto bad;
      }
      /* arguments become C strings: a NUL would cut one short */
      if (u == 0) goto bad;
      put_utf8(&b, u);
    } else {
      goto bad;
    }
  }
  if (ps->p >= ps->end) goto bad;
  ps->p++;
  buf_add(&b, "", 1); /* the NUL that ends it */
  *len = b.len - 1;
  return b.data;
bad:
  buf_free(&b);
  ps->error = "a string is not valid JSON";
  return NULL;
}

static struct json *parse_value(struct parser *ps, int depth);

static struct json *parse_container(struct parser *ps, struct json *j, int depth) {
  char close = j->type == J_OBJ ? '}' : ']';
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return j;
  }
  for (;;) {
    char *key = NULL;
    if (j->type == J_OBJ) {
      size_t klen;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != '"') goto bad;
      ps->p++;
      if (!(key = parse_string(ps, &klen))) goto fail;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        goto bad;
      }
      ps->p++;
    }
    struct json *v = parse_value(ps, depth + 1);
    if (!v) {
      free(key);
      goto fail;
    }
    j->items = realloc(j->items, (j->n + 1) * sizeof *j->items);
    if (j->type == J_OBJ) j->keys = realloc(j->keys, (j->n + 1) * sizeof *j->keys);
    if (!j->items || (j->type == J_OBJ && !j->keys)) exit(1);
    j->items[j->n] = v;
    if (j->type == J_OBJ) j->keys[j->n] = key;
    j->n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return j;
    }
    goto bad;
  }
bad:
  ps->error = "the request is not valid JSON";
fail:
  json_free(j);
  return NULL;
}

static struct json *parse_value(struct parser *ps, int depth) {
  if (depth > MAX_DEPTH) {
    ps->error = "the request is nested too deeply";
    return NULL;
  }
  skip_ws(ps);
  struct json *j = calloc(1, sizeof *j);
  if (!j) exit(1);
  if (ps->p >= ps->end) goto bad;
  char c = *ps->p;
  if (c == '{' || c == '[') {
    ps->p++;
    j->type = c == '{' ? J_OBJ : J_ARR;
    return parse_container(ps, j, depth);
  }
  if (c == '"') {
    ps->p++;
    j->type = J_STR;
    if (!(j->str = parse_string(ps, &j->len))) {
      free(j);
      return NULL;
    }
    return j;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    /* integers are all QGA's arguments need; a fraction or exponent is taken and dropped */
    char tmp[32];
    size_t n = 0;
    while (ps->p < ps->end && *ps->p && strchr("-+0123456789.eE", *ps->p) && n < sizeof tmp - 1) tmp[n++] = *ps->p++;
    tmp[n] = 0;
    char *stop;
    errno = 0;
    j->num = strtoll(tmp, &stop, 10);
    if (stop == tmp || errno) goto bad;
    j->type = J_NUM;
    return j;
  }
  static const struct { const char *word; int type, value; } words[] = {{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, words[i].word, n)) {
      ps->p += n;
      j->type = words[i].type;
      j->num = words[i].value;
      return j;
    }
  }
bad:
  ps->error = "the request is not valid JSON";
  free(j);
  return NULL;
}

static struct json *member(const struct json *o, const char *key) {
  if (!o || o->type != J_OBJ) return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (!strcmp(o->keys[i], key)) return o->items[i];
  return NULL;
}

/* ---- the port ---- */

static int port = -1;

/* writes a whole answer; a host that takes nothing for 10 s loses it (it resyncs) */
static void send_answer(const struct buf *b) {
  size_t off = 0;
  while (off < b->len) {
    ssize_t n = write(port, b->data + off, b->len - off);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = port, .events = POLLOUT};
      if (poll(&p, 1, 10000) <= 0) return;
    } else {
      return;
    }
  }
}

/* ---- running commands ---- */

struct output {
  int fd;
  struct buf data;
  int truncated;
};

struct proc {
  pid_t pid; /* 0: a free slot */
  int reaped, status, capture;
  int in_fd;
  char *input;
  size_t input_len, input_off;
  struct output out, err;
};

static struct proc procs[MAX_PROCS];

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static struct proc *free_slot(void) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (!procs[i].pid) return &procs[i];
  return NULL;
}

static struct proc *find_proc(long long pid) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].pid && procs[i].pid == pid) return &procs[i];
  return NULL;
}

static void free_proc(struct proc *p) {
  close_fd(&p->in_fd);
  close_fd(&p->out.fd);
  close_fd(&p->err.fd);
  free(p->input);
  buf_free(&p->out.data);
  buf_free(&p->err.data);
  memset(p, 0, sizeof *p);
}

static void read_output(struct proc *p, struct output *o) {
  char chunk[65536];
  ssize_t n = read(o->fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_fd(&o->fd);
    return;
  }
  if (o->data.len + (size_t)n > MAX_OUTPUT) {
    /* Lodge's cap: the command (its whole session) is killed, the status says truncated */
    buf_add(&o->data, chunk, MAX_OUTPUT - o->data.len);
    o->truncated = 1;
    kill(-p->pid, SIGKILL);
    close_fd(&o->fd);
    return;
  }
  buf_add(&o->data, chunk, (size_t)n);
}

static void write_input(struct proc *p) {
  ssize_t n = write(p->in_fd, p->input + p->input_off, p->input_len - p->input_off);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) p->input_off = p->input_len; /* the command closed its stdin */
  else p->input_off += (size_t)n;
  if (p->input_off >= p->input_len) close_fd(&p->in_fd);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct proc *p = find_proc(pid);
    if (p) {
      p->reaped = 1;
      p->status = status;
    }
  }
}

/* ---- commands ---- */

static void error_answer(struct buf *b, const char *class, const char *desc) {
  ADD(b, "{\"error\": {\"class\": ");
  buf_string(b, class, strlen(class));
  ADD(b, ", \"desc\": ");
  buf_string(b, desc, strlen(desc));
  ADD(b, "}");
}

/* a NULL-terminated array of an array of strings; NULL (with *bad set) if it is anything else */
static char **string_array(const struct json *a, const char *first, int *bad) {
  size_t n = a ? a->n : 0;
  if ((a && a->type != J_ARR) || n > MAX_ARGS) {
    *bad = 1;
    return NULL;
  }
  char **v = calloc(n + 2, sizeof *v);
  if (!v) exit(1);
  size_t k = 0;
  if (first) v[k++] = (char *)first;
  for (size_t i = 0; i < n; i++) {
    if (a->items[i]->type != J_STR) {
      free(v);
      *bad = 1;
      return NULL;
    }
    v[k++] = a->items[i]->str;
  }
  return v;
}

static void spawn_child(const char *path, char **argv, char **envp, int in, int out, int err, int report) {
  become_command(in, out, err, envp);
  execvpe(path, argv, envp ? envp : environ);
  int e = errno;
  (void)!write(report, &e, sizeof e);
  _exit(127);
}

static void guest_exec(struct buf *b, const struct json *args) {
  const struct json *path = member(args, "path");
  const struct json *input = member(args, "input-data");
  const struct json *capture = member(args, "capture-output");
  const struct json *env = member(args, "env");
  int bad = 0;
  if (!path || path->type != J_STR) return error_answer(b, "GenericError", "Parameter 'path' is missing");
  char **argv = string_array(member(args, "arg"), path->str, &bad);
  char **envp = env ? string_array(env, NULL, &bad) : NULL;
  if (bad || (input && input->type != J_STR)) {
    free(argv);
    free(envp);
    return error_answer(b, "GenericError", "Invalid parameter type: arg and env must be arrays of strings, input-data a string");
  }
  long input_len = 0;
  if (input && (input_len = base64_decode(input->str, input->len)) < 0) {
    free(argv);
    free(envp);
    return error_answer(b, "GenericError", "Parameter 'input-data' is not base64");
  }
  struct proc *p = free_slot();
  if (!p) {
    free(argv);
    free(envp);
    return error_answer(b, "GenericError", "too many commands running");
  }
  int do_capture = capture && capture->type == J_BOOL && capture->num;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2];
  if (null < 0 || pipe2(report, O_CLOEXEC) || (input && pipe2(in, O_CLOEXEC)) || (do_capture && (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)))) {
    char desc[160];
    snprintf(desc, sizeof desc, "cannot make pipes: %s", strerror(errno));
    error_answer(b, "GenericError", desc);
    goto done;
  }
  pid_t pid = fork();
  if (pid == 0) spawn_child(path->str, argv, envp, input ? in[0] : null, do_capture ? out[1] : null, do_capture ? err[1] : null, report[1]);
  close(report[1]);
  int exec_errno = 0;
  ssize_t got = pid < 0 ? 0 : read(report[0], &exec_errno, sizeof exec_errno);
  close(report[0]);
  if (pid < 0 || got == sizeof exec_errno) {
    char desc[600];
    /* word for word qemu-ga's (glib's) */
    snprintf(desc, sizeof desc, "Guest agent command failed, error was 'Failed to execute child process \u201c%.300s\u201d (%s)'", path->str, strerror(pid < 0 ? errno : exec_errno));
    error_answer(b, "GenericError", desc);
    if (pid > 0) waitpid(pid, NULL, 0);
    goto done;
  }
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->capture = do_capture;
  p->in_fd = p->out.fd = p->err.fd = -1;
  if (input) {
    p->in_fd = in[1], in[1] = -1;
    fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
    p->input = malloc((size_t)input_len + 1);
    if (!p->input) exit(1);
    memcpy(p->input, input->str, (size_t)input_len);
    p->input_len = (size_t)input_len;
    if (!input_len) close_fd(&p->in_fd);
  }
  if (do_capture) {
    p->out.fd = out[0], out[0] = -1;
    p->err.fd = err[0], err[0] = -1;
    fcntl(p->out.fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err.fd, F_SETFL, O_NONBLOCK);
  }
  buf_printf(b, "{\"return\": {\"pid\": %d}", (int)pid);
done:
  for (int i = 0; i < 2; i++) {
    close_fd(&in[i]);
    close_fd(&out[i]);
    close_fd(&err[i]);
  }
  close_fd(&null);
  free(argv);
  free(envp);
}

static void guest_exec_status(struct buf *b, const struct json *args) {
  const struct json *pid = member(args, "pid");
  struct proc *p = pid && pid->type == J_NUM && pid->num > 0 ? find_proc(pid->num) : NULL;
  if (!p) return error_answer(b, "GenericError", "Invalid parameter 'pid'");
  /* as qemu-ga: exited once the command has ended and its output is all read */
  if (!p->reaped || p->out.fd >= 0 || p->err.fd >= 0) return buf_printf(b, "{\"return\": {\"exited\": false}");
  ADD(b, "{\"return\": {\"exited\": true");
  if (WIFEXITED(p->status)) buf_printf(b, ", \"exitcode\": %d", WEXITSTATUS(p->status));
  else buf_printf(b, ", \"signal\": %d", WTERMSIG(p->status));
  if (p->capture) {
    ADD(b, ", \"out-data\": ");
    buf_base64(b, (unsigned char *)p->out.data.data, p->out.data.len);
    ADD(b, ", \"err-data\": ");
    buf_base64(b, (unsigned char *)p->err.data.data, p->err.data.len);
    if (p->out.truncated) ADD(b, ", \"out-truncated\": true");
    if (p->err.truncated) ADD(b, ", \"err-truncated\": true");
  }
  ADD(b, "}");
  free_proc(p);
}

/* ---- files ---- */

struct file {
  long long handle; /* 0: a free slot */
  int fd;
};

static struct file files[MAX_FILES];
static long long next_handle = 1;

static struct file *find_file(const struct json *args) {
  const struct json *handle = member(args, "handle");
  if (!handle || handle->type != J_NUM || handle->num <= 0) return NULL;
  for (int i = 0; i < MAX_FILES; i++)
    if (files[i].handle == handle->num) return &files[i];
  return NULL;
}

static void no_file(struct buf *b, const struct json *args) {
  const struct json *handle = member(args, "handle");
  char desc[80];
  snprintf(desc, sizeof desc, "handle '%lld' has not been found", handle && handle->type == J_NUM ? handle->num : 0);
  error_answer(b, "GenericError", desc);
}

/* fopen's modes, as qemu-ga takes them; -1 for any other */
static int open_flags(const char *mode) {
  static const struct { const char *mode; int flags; } modes[] = {
      {"r", O_RDONLY}, {"rb", O_RDONLY}, {"r+", O_RDWR}, {"rb+", O_RDWR}, {"r+b", O_RDWR},
      {"w", O_WRONLY | O_CREAT | O_TRUNC}, {"wb", O_WRONLY | O_CREAT | O_TRUNC},
      {"w+", O_RDWR | O_CREAT | O_TRUNC}, {"wb+", O_RDWR | O_CREAT | O_TRUNC}, {"w+b", O_RDWR | O_CREAT | O_TRUNC},
      {"a", O_WRONLY | O_CREAT | O_APPEND}, {"ab", O_WRONLY | O_CREAT | O_APPEND},
      {"a+", O_RDWR | O_CREAT | O_APPEND}, {"ab+", O_RDWR | O_CREAT | O_APPEND}, {"a+b", O_RDWR | O_CREAT | O_APPEND},
  };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (!strcmp(mode, modes[i].mode)) return modes[i].flags;
  return -1;
}

static void guest_file_open(struct buf *b, const struct json *args) {
  const struct json *path = member(args, "path");
  const struct json *mode = member(args, "mode");
  if (!path || path->type != J_STR) return error_answer(b, "GenericError", "Parameter 'path' is missing");
  if (mode && mode->type != J_STR) return error_answer(b, "GenericError", "Invalid parameter type for 'mode', expected: string");
  const char *m = mode ? mode->str : "r";
  int flags = open_flags(m);
  char desc[400];
  if (flags < 0) {
    snprintf(desc, sizeof desc, "invalid file open mode '%.20s'", m);
    return error_answer(b, "GenericError", desc);
  }
  struct file *f = NULL;
  for (int i = 0; i < MAX_FILES && !f; i++)
    if (!files[i].handle) f = &files[i];
  if (!f) return error_answer(b, "GenericError", "too many files open");
  /* O_NONBLOCK: a FIFO neither holds up the open nor a read */
  int fd = open(path->str, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  if (fd < 0) {
    /* word for word qemu-ga's */
    snprintf(desc, sizeof desc, "failed to open file '%.300s' (mode: '%s'): %s", path->str, m, strerror(errno));
    return error_answer(b, "GenericError", desc);
  }
  f->handle = next_handle++;
  f->fd = fd;
  buf_printf(b, "{\"return\": %lld", f->handle);
}

static void guest_file_read(struct buf *b, const struct json *args) {
  struct file *f = find_file(args);
  const struct json *count = member(args, "count");
  if (!f) return no_file(b, args);
  long long want = count ? count->num : 4096;
  if ((count && count->type != J_NUM) || want < 0 || want > MAX_READ) {
    char desc[80];
    snprintf(desc, sizeof desc, "value '%lld' is invalid for argument count", want);
    return error_answer(b, "GenericError", desc);
  }
  unsigned char *data = malloc((size_t)want + 1);
  if (!data) exit(1);
  size_t got = 0;
  int eof = 0;
  while (got < (size_t)want) {
    ssize_t n = read(f->fd, data + got, (size_t)want - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {
      char desc[120];
      snprintf(desc, sizeof desc, "failed to read file: %s", strerror(errno));
      free(data);
      return error_answer(b, "GenericError", desc);
    }
    if (n == 0) {
      eof = 1;
      break;
    }
    got += (size_t)n;
  }
  buf_printf(b, "{\"return\": {\"count\": %zu, \"buf-b64\": ", got);
  buf_base64(b, data, got);
  buf_printf(b, ", \"eof\": %s}", eof ? "true" : "false");
  free(data);
}

static void guest_file_write(struct buf *b, const struct json *args) {
  struct file *f = find_file(args);
  struct json *data = member(args, "buf-b64");
  const struct json *count = member(args, "count");
  if (!f) return no_file(b, args);
  if (!data || data->type != J_STR) return error_answer(b, "GenericError", "Parameter 'buf-b64' is missing");
  long len = base64_decode(data->str, data->len);
  if (len < 0) return error_answer(b, "GenericError", "Parameter 'buf-b64' is not base64");
  long long want = count ? count->num : len;
  if ((count && count->type != J_NUM) || want < 0 || want > len) {
    char desc[80];
    snprintf(desc, sizeof desc, "value '%lld' is invalid for argument count", want);
    return error_answer(b, "GenericError", desc);
  }
  size_t done = 0;
  while (done < (size_t)want) {
    ssize_t n = write(f->fd, data->str + done, (size_t)want - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break; /* a FIFO nobody reads: what was written is said */
    if (n < 0) {
      char desc[120];
      snprintf(desc, sizeof desc, "failed to write to file: %s", strerror(errno));
      return error_answer(b, "GenericError", desc);
    }
    done += (size_t)n;
  }
  buf_printf(b, "{\"return\": {\"count\": %zu, \"eof\": false}", done);
}

static void guest_file_close(struct buf *b, const struct json *args) {
  struct file *f = find_file(args);
  if (!f) return no_file(b, args);
  int failed = close(f->fd) < 0 && errno != EINTR;
  int e = errno;
  f->handle = 0;
  f->fd = -1;
  if (failed) {
    /* a write the filesystem could not keep after all (NFS, a full disk) */
    char desc[120];
    snprintf(desc, sizeof desc, "failed to close file: %s", strerror(e));
    return error_answer(b, "GenericError", desc);
  }
  ADD(b, "{\"return\": {}");
}

static const char *const commands[] = {"guest-sync-delimited", "guest-sync", "guest-ping", "guest-info", "guest-exec", "guest-exec-status",
                                       "guest-file-open", "guest-file-read", "guest-file-write", "guest-file-close"};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void guest_info(struct buf *b) {
  ADD(b, "{\"return\": {\"version\": \"lodge-ga 1\", \"supported_commands\": [");
  for (size_t i = 0; i < N_COMMANDS; i++) buf_printf(b, "%s{\"enabled\": true, \"name\": \"%s\", \"success-response\": true}", i ? ", " : "", commands[i]);
  ADD(b, "]}");
}

static void handle(const char *text, size_t len) {
  struct buf b = {0};
  struct parser ps = {.p = text, .end = text + len};
  struct json *req = parse_value(&ps, 0);
  const struct json *execute = member(req, "execute");
  const struct json *args = member(req, "arguments");
  const struct json *id = member(req, "id");
  if (!req) {
    error_answer(&b, "GenericError", ps.error ? ps.error : "the request is not valid JSON");
  } else if (!execute || execute->type != J_STR) {
    error_answer(&b, "GenericError", "Expecting a value for 'execute'");
  } else if (args && args->type != J_OBJ) {
    error_answer(&b, "GenericError", "QMP input member 'arguments' must be an object");
  } else if (!strcmp(execute->str, "guest-sync-delimited") || !strcmp(execute->str, "guest-sync")) {
    const struct json *sync = member(args, "id");
    if (!sync || sync->type != J_NUM) {
      error_answer(&b, "GenericError", "Parameter 'id' is missing");
    } else {
      if (!strcmp(execute->str, "guest-sync-delimited")) ADD(&b, "\xff");
      buf_printf(&b, "{\"return\": %lld", sync->num);
    }
  } else if (!strcmp(execute->str, "guest-ping")) {
    ADD(&b, "{\"return\": {}");
  } else if (!strcmp(execute->str, "guest-info")) {
    guest_info(&b);
  } else if (!strcmp(execute->str, "guest-exec")) {
    guest_exec(&b, args);
  } else if (!strcmp(execute->str, "guest-exec-status")) {
    guest_exec_status(&b, args);
  } else if (!strcmp(execute->str, "guest-file-open")) {
    guest_file_open(&b, args);
  } else if (!strcmp(execute->str, "guest-file-read")) {
    guest_file_read(&b, args);
  } else if (!strcmp(execute->str, "guest-file-write")) {
    guest_file_write(&b, args);
  } else if (!strcmp(execute->str, "guest-file-close")) {
    guest_file_close(&b, args);
  } else {
    char desc[160];
    snprintf(desc, sizeof desc, "The command %.100s has not been found", execute->str);
    error_answer(&b, "CommandNotFound", desc);
  }
  /* as QMP: the request's id comes back with its answer */
  if (id && id->type == J_NUM) buf_printf(&b, ", \"id\": %lld", id->num);
  if (id && id->type == J_STR) {
    ADD(&b, ", \"id\": ");
    buf_string(&b, id->str, id->len);
  }
  ADD(&b, "}\n");
  send_answer(&b);
  buf_free(&b);
  json_free(req);
}

/* ---- framing: one request is one JSON object, found by its braces ---- */

struct framer {
  struct buf text;
  int depth, in_string, escaped, oversized;
};

static void frame(struct framer *f, const char *data, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = data[i];
    if ((unsigned char)c == 0xff) {
      /* the host's resync: drop the half request */
      f->text.len = 0;
      f->depth = f->in_string = f->escaped = f->oversized = 0;
      continue;
    }
    if (f->depth == 0 && c != '{') continue; /* between requests: whitespace, or garbage */
    if (!f->oversized) {
      if (f->text.len < MAX_REQUEST) buf_add(&f->text, &c, 1);
      else f->oversized = 1;
    }
    if (f->in_string) {
      if (f->escaped) f->escaped = 0;
      else if (c == '\\') f->escaped = 1;
      else if (c == '"') f->in_string = 0;
      continue;
    }
    if (c == '"') f->in_string = 1;
    else if (c == '{' || c == '[') f->depth++;
    else if (c == '}' || c == ']') f->depth--;
    if (f->depth > 0) continue;
    if (f->oversized) {
      struct buf b = {0};
      error_answer(&b, "GenericError", "the request is larger than lodge-ga takes (4 MiB)");
      ADD(&b, "}\n");
      send_answer(&b);
      buf_free(&b);
    } else {
      handle(f->text.data, f->text.len);
    }
    f->text.len = 0;
    f->depth = f->oversized = 0;
  }
}

/* ---- finding the port, and the main loop ---- */


int main(int argc, char **argv) {
  char dev[256];
  if (argc > 1) {
    snprintf(dev, sizeof dev, "%s", argv[1]);
  } else if (wait_for_port(PORT_NAME, dev, sizeof dev)) {
    return 0; /* without virtio-serial there is nothing to serve */
  }
  if ((port = open_port(dev, "lodge-ga")) < 0) return 1;
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("PATH")) setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  struct framer f = {0};
  int host_away = 0;
  for (;;) {
    struct pollfd fds[1 + 3 * MAX_PROCS];
    struct output *outs[1 + 3 * MAX_PROCS];
    struct proc *owners[1 + 3 * MAX_PROCS];
    int n = 0, running = 0;
    /* with no host on the other end the port reads as hung up: look again in a while rather than spin */
    if (!host_away) fds[n] = (struct pollfd){.fd = port, .events = POLLIN}, outs[n] = NULL, owners[n++] = NULL;
    for (int i = 0; i < MAX_PROCS; i++) {
      struct proc *p = &procs[i];
      if (!p->pid) continue;
      if (!p->reaped) running = 1;
      if (p->in_fd >= 0) fds[n] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT}, outs[n] = NULL, owners[n++] = p;
      if (p->out.fd >= 0) fds[n] = (struct pollfd){.fd = p->out.fd, .events = POLLIN}, outs[n] = &p->out, owners[n++] = p;
      if (p->err.fd >= 0) fds[n] = (struct pollfd){.fd = p->err.fd, .events = POLLIN}, outs[n] = &p->err, owners[n++] = p;
    }
    int ready = poll(fds, (nfds_t)n, host_away ? 100 : running ? 50 : 1000);
    host_away = 0;
    if (ready < 0 && errno != EINTR) return 1;
    for (int i = 0; ready > 0 && i < n; i++) {
      if (!fds[i].revents) continue;
      if (!owners[i]) {
        char chunk[65536];
        ssize_t got = (fds[i].revents & POLLIN) ? read(port, chunk, sizeof chunk) : 0;
        if (got > 0) frame(&f, chunk, (size_t)got);
        else if (got == 0 || errno != EAGAIN) host_away = 1;
      } else if (outs[i]) {
        if (outs[i]->fd == fds[i].fd) read_output(owners[i], outs[i]);
      } else if (owners[i]->in_fd == fds[i].fd) {
        write_input(owners[i]);
      }
    }
    reap();
  }
}
