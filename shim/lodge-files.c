/*
 * lodge-files: copies one file into or out of a container's root, in a process that
 * resolves every path inside that root, whatever links the guest made.
 *
 *   lodge-files [OPTIONS] ROOT push GUESTPATH SOURCE MODE UID GID PARENTS   (MODE in octal)
 *   lodge-files [OPTIONS] ROOT pull GUESTPATH DEST MAXBYTES
 *   OPTIONS: [--owner UID GID] [--overlay OPTIONS] [--bind HOSTDIR GUESTPATH]...
 *
 * ROOT is a running container's /proc/PID/root, or for a stopped one the directory where
 * --overlay mounts its root (in a mount namespace of this process's own, with its volumes
 * bound at their paths as the runtime would). SOURCE (read) or DEST (made, 0600) is opened
 * while this process still sees the host. Then it chroots into ROOT, closes every other
 * descriptor, and keeps only the capabilities that set owners and modes (confine.h).
 *
 * push writes SOURCE to a new file beside GUESTPATH, gives it MODE, UID and GID (host ids)
 * and renames it over GUESTPATH: what was at the path is replaced whole, never written
 * through, so a FIFO, a device or a procfs file there is refused rather than opened. With
 * PARENTS=1 the missing directories above it are made (0755, of --owner: the guest's root).
 * pull copies the regular file at GUESTPATH (links followed, inside the root) into DEST,
 * at most MAXBYTES.
 *
 * On success it prints "ok MODE UID GID SIZE" (mode in octal, host ids). Exit status 1 with
 * "lodge-files: WHY" on stderr when the guest's file cannot be had (WHY is for the user),
 * 111 when confining failed, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "confine.h"

#define MAX_BINDS 8

static void fail(int status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("lodge-files: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(status);
}

static void die(const char *what) { fail(111, "%s: %s", what, strerror(errno)); }

static unsigned long long number(const char *s, int base, const char *what) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, base);
  if (errno || *end || !*s) fail(2, "%s is not a number: %s", what, s);
  return n;
}

static const char *kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

/* Splits an absolute guest path into its directory and its last name; refuses "/" and names ending in "/". */
static void split(const char *guest_path, char *dir, char **base) {
  if (guest_path[0] != '/' || strlen(guest_path) >= PATH_MAX) fail(2, "the guest path must be absolute: %s", guest_path);
  strcpy(dir, guest_path);
  char *slash = strrchr(dir, '/');
  *base = slash + 1;
  if (!**base || !strcmp(*base, ".") || !strcmp(*base, "..")) fail(1, "%s names no file", guest_path);
  static char name[NAME_MAX + 1];
  if (strlen(*base) > NAME_MAX) fail(1, "%s: file name too long", guest_path);
  strcpy(name, *base);
  *base = name;
  if (slash == dir) strcpy(dir, "/");
  else *slash = 0;
}

static uid_t owner_uid;
static gid_t owner_gid;

/* Opens the directory DIR inside the root, making what is missing (of the owner) when asked. */
static int open_dir(const char *dir, int parents) {
  int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || !parents || errno != ENOENT) {
    if (fd < 0) fail(1, "%s: %s%s", dir, strerror(errno), errno == ENOENT ? " (--parents makes it)" : "");
    return fd;
  }
  fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  char copy[PATH_MAX];
  strcpy(copy, dir);
  for (char *save, *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    if (mkdirat(fd, part, 0755) == 0) {
      if (fchownat(fd, part, owner_uid, owner_gid, AT_SYMLINK_NOFOLLOW) < 0) fail(1, "%s: %s", dir, strerror(errno));
    } else if (errno != EEXIST) {
      fail(1, "making %s: %s", dir, strerror(errno));
    }
    int next = openat(fd, part, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (next < 0) fail(1, "%s: %s", dir, strerror(errno));
    close(fd);
    fd = next;
  }
  return fd;
}

/* Copies from one descriptor to another; at most `max` bytes when max > 0 (one more means too many). */
static unsigned long long copy(int from, int to, unsigned long long max, const char *what) {
  static char buffer[1 << 16];
  unsigned long long total = 0;
  for (;;) {
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(1, "reading %s: %s", what, strerror(errno));
    if (n == 0) return total;
    total += (unsigned long long)n;
    if (max > 0 && total > max) fail(1, "%s is over %llu bytes, more than lodged takes", what, max);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(to, buffer + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(1, "writing %s: %s", what, strerror(errno));
      done += w;
    }
  }
}

static void push(const char *guest_path, int source, mode_t mode, uid_t uid, gid_t gid, int parents) {
  char dir[PATH_MAX], *base;
  split(guest_path, dir, &base);
  int dirfd = open_dir(dir, parents);
  struct stat st;
  if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) fail(1, "%s is %s", guest_path, kind_of(st.st_mode));
  char tmp[64];
  snprintf(tmp, sizeof tmp, ".lodge-push-%d", (int)getpid());
  unlinkat(dirfd, tmp, 0);
  int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail(1, "writing in %s: %s", dir, strerror(errno));
  unsigned long long size = copy(source, fd, 0, guest_path);
  // the owner before the mode: a chown clears setuid and setgid bits
  if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
    unlinkat(dirfd, tmp, 0);
    fail(1, "%s: %s", guest_path, strerror(errno));
  }
  if (renameat(dirfd, tmp, dirfd, base) < 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    fail(1, "%s: %s", guest_path, strerror(e));
  }
  printf("ok %o %u %u %llu\n", (unsigned)(mode & 07777), (unsigned)uid, (unsigned)gid, size);
}

static void pull(const char *guest_path, int dest, unsigned long long max) {
  if (guest_path[0] != '/') fail(2, "the guest path must be absolute: %s", guest_path);
  // O_NONBLOCK: a FIFO opens at once, and is refused below
  int fd = open(guest_path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(1, "%s is %s", guest_path, kind_of(st.st_mode));
  if ((unsigned long long)st.st_size > max) fail(1, "%s is %lld bytes, more than the %llu lodged takes", guest_path, (long long)st.st_size, max);
  unsigned long long size = copy(fd, dest, max, guest_path);
  printf("ok %o %u %u %llu\n", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid, size);
}

int main(int argc, char **argv) {
  const char *overlay = NULL;
  int binds[MAX_BINDS];
  const char *bind_paths[MAX_BINDS];
  int n_binds = 0;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (!strcmp(argv[i], "--overlay") && i + 1 < argc) overlay = argv[++i];
    else if (!strcmp(argv[i], "--owner") && i + 2 < argc) {
      owner_uid = (uid_t)number(argv[++i], 10, "--owner UID");
      owner_gid = (gid_t)number(argv[++i], 10, "--owner GID");
    }
    else if (!strcmp(argv[i], "--bind") && i + 2 < argc && n_binds < MAX_BINDS) {
      // a copy of the volume's mount, taken while the host is in sight, to place inside the root
      binds[n_binds] = open_tree(AT_FDCWD, argv[++i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (binds[n_binds] < 0) die(argv[i]);
      bind_paths[n_binds++] = argv[++i];
    } else fail(2, "unknown option %s", argv[i]);
  }
  int args = argc - i;
  if (args < 2 || !((!strcmp(argv[i + 1], "push") && args == 8) || (!strcmp(argv[i + 1], "pull") && args == 5))) {
    fail(2, "usage: lodge-files [--owner UID GID] [--overlay OPTIONS] [--bind HOSTDIR GUESTPATH]... ROOT push|pull ...");
  }
  const char *root = argv[i], *op = argv[i + 1], *guest_path = argv[i + 2], *file = argv[i + 3];
  int is_push = !strcmp(op, "push");
  int data = is_push ? open(file, O_RDONLY | O_CLOEXEC) : open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (data < 0) die(file);

  if (unshare(CLONE_NEWNS) < 0) die("unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making mounts private");
  if (overlay && mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, overlay) < 0) die("mounting the overlay root");
  if (chdir(root) < 0) die(root);
  if (chroot(".") < 0) die("chroot");
  if (chdir("/") < 0) die("chdir /");
  for (int b = 0; b < n_binds; b++) {
    // the mount point resolves inside the root; a guest path that cannot hold one fails this copy only
    int point = open_dir(bind_paths[b], 1);
    if (move_mount(binds[b], "", point, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail(1, "mounting the volume at %s: %s", bind_paths[b], strerror(errno));
    close(point);
    close(binds[b]);
  }
  if (dup2(data, 3) < 0) die("dup2");
  if (confine_close_fds(3) < 0) die("close_range");
  umask(0);
  if (confine_capabilities() < 0) die("dropping capabilities");

  if (is_push) {
    unsigned long long mode = number(argv[i + 4], 8, "MODE");
    if (mode > 07777) fail(2, "MODE is more than 07777: %s", argv[i + 4]);
    push(guest_path, 3, (mode_t)mode, (uid_t)number(argv[i + 5], 10, "UID"), (gid_t)number(argv[i + 6], 10, "GID"), !strcmp(argv[i + 7], "1"));
  } else {
    pull(guest_path, 3, number(argv[i + 4], 10, "MAXBYTES"));
  }
  return 0;
}
