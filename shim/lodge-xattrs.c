/*
 * lodge-xattrs: the extended attributes of a file tree, read for its backup and set again
 * on its restore (Node has no calls for them).
 *
 *   lodge-xattrs dump [--one-file-system] DIR
 *   lodge-xattrs restore DIR
 *
 * A record is one line: the path relative to DIR ('/'-separated, empty for DIR itself),
 * then each attribute's name and value, every field in lowercase hex, one space between
 * fields. dump prints a record for each entry that has attributes Lodge keeps, in the order
 * of a backup's walk (depth first, a directory before its children, children by the bytes
 * of their names), attributes by name; with --one-file-system it does not descend into a
 * directory of another filesystem (it still prints that directory's own record). An entry
 * that vanishes meanwhile is left out. restore reads records on stdin and sets them; an
 * attribute the kernel refuses there for want of a right or of support (EPERM: not root, or
 * user.* on a special file; EOPNOTSUPP: a filesystem without it) is printed as
 * "PATH NAME WHY" (PATH and NAME in hex) and the rest goes on; anything else fails the run.
 *
 * Kept: security.* (file capabilities, SELinux labels), system.posix_acl_access and
 * system.posix_acl_default (ACLs), user.*, and of trusted.* only trusted.overlay.opaque,
 * which marks a directory of a container's upper layer that hides its image's (one the
 * container removed and made again). The other trusted.overlay.* are left: origin holds a
 * file handle into the old filesystem, impure and nlink cache what origin gave, and a
 * new overlay over a restored layer finds none of that true (redirect, a renamed
 * directory's lower path, is not made: Lodge's overlays have redirect_dir off). A restore
 * refuses a record with any other name: a backup never holds one.
 *
 * No symlink is followed: dump opens each name with O_PATH|O_NOFOLLOW beneath a directory
 * it opened the same way, restore resolves a path beneath DIR with openat2's
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (a symlink anywhere fails it; the last component is
 * opened as itself). Attributes are read and set through /proc/self/fd/N of that
 * descriptor with the following calls (getxattr, not lgetxattr): the magic link leads to
 * exactly the inode opened, a symlink itself included, where lgetxattr would act on the
 * /proc link. So no device or fifo is ever opened for I/O.
 *
 * Bounded: a value is at most 64 KiB (the kernel's limit too), an entry has at most 1024
 * attributes kept and 1 MiB of values, a path at most 4096 bytes; an entry past that fails
 * the run, naming it. Exit status 0, 1 with "lodge-xattrs: WHY" on stderr, 2 for bad
 * arguments.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_VALUE 65536u
#define MAX_LIST 65536u
#define MAX_NAME 255u
#define MAX_ATTRS 1024u
#define MAX_ENTRY_BYTES (1u << 20)
#define MAX_PATH 4096u
/* The longest record line restore reads: a path, then MAX_ATTRS names and MAX_ENTRY_BYTES of values, in hex. */
#define MAX_LINE (2 * (MAX_PATH + MAX_ATTRS * MAX_NAME + MAX_ENTRY_BYTES) + 2 * MAX_ATTRS + 2)

static void fail(int status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("lodge-xattrs: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(status);
}

/* A path as text for a message: bytes outside printable ASCII as \xNN. */
static const char *shown(const char *p, size_t len) {
  static char out[4 * MAX_PATH + 8];
  size_t o = 0;
  for (size_t i = 0; i < len && o + 5 < sizeof out; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') out[o++] = (char)c;
    else o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
  }
  out[o] = 0;
  return len == 0 ? "." : out;
}

static int kept(const char *name) {
  return (strncmp(name, "security.", 9) == 0 && name[9]) || (strncmp(name, "user.", 5) == 0 && name[5]) ||
         strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0 ||
         strcmp(name, "trusted.overlay.opaque") == 0;
}

static void proc_path(char *out, size_t size, int fd) { snprintf(out, size, "/proc/self/fd/%d", fd); }

/* ---- dump ---- */

static void put_hex(const void *data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *b = data;
  for (size_t i = 0; i < len; i++) {
    putchar_unlocked(digits[b[i] >> 4]);
    putchar_unlocked(digits[b[i] & 15]);
  }
}

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Prints the record of the entry open as `fd` (O_PATH), at `path` (`len` bytes), if it has attributes kept. */
static void dump_attrs(int fd, const char *path, size_t len) {
  static char list[MAX_LIST], value[MAX_VALUE];
  char proc[64];
  proc_path(proc, sizeof proc, fd);
  ssize_t n = listxattr(proc, list, sizeof list);
  if (n < 0 && (errno == EOPNOTSUPP || errno == ENOENT)) return;
  if (n < 0) fail(1, "%s: listing extended attributes: %s", shown(path, len), strerror(errno));
  static char *names[MAX_ATTRS];
  size_t count = 0;
  for (char *name = list; name < list + n; name += strlen(name) + 1) {
    if (!kept(name)) continue;
    if (count == MAX_ATTRS) fail(1, "%s has more than %u extended attributes", shown(path, len), MAX_ATTRS);
    names[count++] = name;
  }
  if (count == 0) return;
  qsort(names, count, sizeof names[0], by_bytes);
  size_t total = 0, printed = 0;
  for (size_t i = 0; i < count; i++) {
    ssize_t v = getxattr(proc, names[i], value, sizeof value);
    if (v < 0 && errno == ENODATA) continue; /* removed meanwhile */
    if (v < 0) fail(1, "%s: reading extended attribute %s: %s", shown(path, len), names[i], strerror(errno));
    total += (size_t)v;
    if (total > MAX_ENTRY_BYTES) fail(1, "%s holds more than %u bytes of extended attributes", shown(path, len), MAX_ENTRY_BYTES);
    if (printed++ == 0) put_hex(path, len);
    putchar_unlocked(' ');
    put_hex(names[i], strlen(names[i]));
    putchar_unlocked(' ');
    put_hex(value, (size_t)v);
  }
  if (printed) putchar_unlocked('\n');
}

/* Dumps the directory open as `dir` (O_PATH) at `path`, then what it holds. */
static void dump_dir(int dir, char *path, size_t len, dev_t root_dev, int one_fs) {
  struct stat st;
  if (fstat(dir, &st) < 0) fail(1, "%s: %s", shown(path, len), strerror(errno));
  if (one_fs && st.st_dev != root_dev) return;
  int listing = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) fail(1, "%s: %s", shown(path, len), strerror(errno));
  DIR *d = fdopendir(listing);
  if (!d) fail(1, "%s: %s", shown(path, len), strerror(errno));
  char **names = NULL;
  size_t count = 0, room = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) fail(1, "%s: listing: %s", shown(path, len), strerror(errno));
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (count == room) {
      room = room ? 2 * room : 64;
      names = realloc(names, room * sizeof *names);
      if (!names) fail(1, "out of memory");
    }
    if (!(names[count++] = strdup(de->d_name))) fail(1, "out of memory");
  }
  closedir(d);
  qsort(names, count, sizeof *names, by_bytes);
  for (size_t i = 0; i < count; i++) {
    size_t name_len = strlen(names[i]);
    size_t child_len = len + (len ? 1 : 0) + name_len;
    if (child_len > MAX_PATH) fail(1, "%s/%s: the path is longer than %u bytes", shown(path, len), names[i], MAX_PATH);
    if (len) path[len] = '/';
    memcpy(path + len + (len ? 1 : 0), names[i], name_len);
    int fd = openat(dir, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) fail(1, "%s: %s", shown(path, child_len), strerror(errno));
    if (fd >= 0) {
      dump_attrs(fd, path, child_len);
      if (fstat(fd, &st) < 0) fail(1, "%s: %s", shown(path, child_len), strerror(errno));
      if (S_ISDIR(st.st_mode)) dump_dir(fd, path, child_len, root_dev, one_fs);
      close(fd);
    }
    free(names[i]);
  }
  free(names);
}

static int dump(const char *root, int one_fs) {
  int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(1, "%s: %s", root, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail(1, "%s: %s", root, strerror(errno));
  /* a directory's descriptor is held while its children are walked: as many as the tree is deep */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  static char path[MAX_PATH + 1];
  dump_attrs(fd, path, 0);
  dump_dir(fd, path, 0, st.st_dev, one_fs);
  if (fflush(stdout) != 0 || ferror(stdout)) fail(1, "writing: %s", strerror(errno));
  return 0;
}

/* ---- restore ---- */

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/*
 * Decodes the hex field at `*at` in place, NUL-terminated, and moves `*at` past it and its
 * separator; returns its length, or -1 when it is not hex. `*last`: the line ends with it.
 */
static ssize_t field(char **at, char **out, int *last) {
  char *s = *at, *o = s;
  *out = s;
  for (; *s && *s != ' '; s += 2) {
    int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);
    if (lo < 0) return -1;
    *o++ = (char)(hi << 4 | lo);
  }
  ssize_t len = o - *out;
  *last = *s == 0;
  *at = *last ? s : s + 1;
  *o = 0;
  return len;
}

/* The problem with a record's path, if any: it must name an entry beneath DIR. */
static const char *path_problem(const char *p, size_t len) {
  if (len > MAX_PATH) return "is too long";
  if (memchr(p, 0, len)) return "holds a NUL byte";
  if (len && p[0] == '/') return "is absolute";
  if (len == 0) return NULL;
  for (const char *c = p, *end = p + len; c <= end;) {
    const char *slash = memchr(c, '/', (size_t)(end - c));
    size_t n = (size_t)((slash ? slash : end) - c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return "has an empty, . or .. component";
    c += n + 1;
  }
  return NULL;
}

static void restore_record(int root, char *line, unsigned long number) {
  char *at = line, *path;
  int last;
  ssize_t len = field(&at, &path, &last);
  if (len < 0) fail(1, "record %lu: the path is not hex", number);
  if (last) fail(1, "record %lu holds no attribute", number);
  const char *problem = path_problem(path, (size_t)len);
  if (problem) fail(1, "record %lu: the path %s %s", number, shown(path, (size_t)len), problem);
  int fd = root;
  if (len > 0) {
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd < 0) fail(1, "%s: %s", shown(path, (size_t)len), errno == ELOOP ? "a symbolic link on the way" : strerror(errno));
  }
  char proc[64];
  proc_path(proc, sizeof proc, fd);
  for (unsigned count = 0; !last; count++) {
    char *name, *value = NULL;
    ssize_t name_len = field(&at, &name, &last), value_len = name_len < 0 || last ? -1 : field(&at, &value, &last);
    if (value_len < 0) fail(1, "%s: attribute %u is not a hex name and value", shown(path, (size_t)len), count + 1);
    if (count == MAX_ATTRS || name_len == 0 || (size_t)name_len > MAX_NAME || strlen(name) != (size_t)name_len || (size_t)value_len > MAX_VALUE) {
      fail(1, "%s: attribute %u is out of bounds", shown(path, (size_t)len), count + 1);
    }
    if (!kept(name)) fail(1, "%s: attribute %s is not one a backup keeps", shown(path, (size_t)len), name);
    if (setxattr(proc, name, value, (size_t)value_len, 0) == 0) continue;
    if (errno != EPERM && errno != EOPNOTSUPP) fail(1, "%s: setting %s: %s", shown(path, (size_t)len), name, strerror(errno));
    const char *why = strerror(errno);
    put_hex(path, (size_t)len);
    putchar_unlocked(' ');
    put_hex(name, (size_t)name_len);
    printf(" %s\n", why);
  }
  if (fd != root) close(fd);
}

static int restore(const char *root_path) {
  int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(1, "%s: %s", root_path, strerror(errno));
  char *line = malloc(MAX_LINE + 1);
  if (!line) fail(1, "out of memory");
  unsigned long number = 0;
  for (;;) {
    size_t len = 0;
    int c;
    while ((c = getchar_unlocked()) != EOF && c != '\n') {
      if (len == MAX_LINE) fail(1, "record %lu is longer than %u bytes", number + 1, MAX_LINE);
      line[len++] = (char)c;
    }
    if (c == EOF && len == 0) break;
    if (c == EOF) fail(1, "record %lu is cut short", number + 1);
    line[len] = 0;
    restore_record(root, line, ++number);
  }
  if (ferror(stdin)) fail(1, "reading: %s", strerror(errno));
  if (fflush(stdout) != 0 || ferror(stdout)) fail(1, "writing: %s", strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "dump") == 0) return dump(argv[2], 0);
  if (argc == 4 && strcmp(argv[1], "dump") == 0 && strcmp(argv[2], "--one-file-system") == 0) return dump(argv[3], 1);
  if (argc == 3 && strcmp(argv[1], "restore") == 0) return restore(argv[2]);
  fail(2, "usage: lodge-xattrs dump [--one-file-system] DIR | lodge-xattrs restore DIR");
}
