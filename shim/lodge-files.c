/*
 * lodge-files: copies one file into or out of a container's root, in a process that
 * resolves every path inside that root, whatever links the guest made.
 *
 *   lodge-files [OPTIONS] push GUESTPATH SOURCE MODE UID GID PARENTS   (MODE in octal)
 *   lodge-files [OPTIONS] pull GUESTPATH DEST MAXBYTES
 *   OPTIONS: --owner UID GID, then one of
 *     --proc PID STARTTIME    a running container: the root of its init, PID, started at STARTTIME
 *     --root DIR [--overlay OPTIONS] [--bind HOSTDIR GUESTPATH]...
 *                             a stopped one: its overlay mounted at DIR, its volumes bound in
 *
 * A running guest's root is opened through its init's /proc directory, checked to be the
 * process that started at STARTTIME (a pid reused meanwhile is refused, not entered); a
 * stopped guest's is mounted in a mount namespace of this process's own, with its volumes
 * bound at their paths as the runtime would. SOURCE (read) or DEST (made, 0600) is opened
 * while this process still sees the host. Then it chroots into the root, closes every
 * other descriptor, and keeps only the capabilities that set owners and modes (confine.h).
 * Paths are resolved without magic links (RESOLVE_NO_MAGICLINKS): a guest's /proc/N/root
 * or /proc/N/fd leads nowhere.
 *
 * push writes SOURCE to a new file beside GUESTPATH, gives it MODE, UID and GID (host ids;
 * "-" keeps what the replaced file had, and is 0644 and --owner's for a new file) and
 * renames it over GUESTPATH: what was at the path is replaced whole, never written
 * through, so a FIFO, a device or a procfs file there is refused rather than opened. A
 * push that fails removes its new file. With PARENTS=1 the missing directories above it
 * are made (0755, of --owner: the guest's root). In a filesystem the guest mounted itself
 * (a tmpfs of its user namespace), where the host's root has no id, files are made as the
 * guest's root. pull copies the regular file at GUESTPATH (links followed, inside the
 * root) into DEST, at most MAXBYTES.
 *
 * On success it prints "ok MODE UID GID SIZE" (mode in octal, host ids). Exit status 1 with
 * "lodge-files: WHY" on stderr when the guest's file cannot be had (WHY is for the user),
 * 111 when confining failed, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "confine.h"

#define MAX_BINDS 8

static uid_t owner_uid;
static gid_t owner_gid;
/* The new file of a push, removed if the push fails after making it. */
static int temp_dir = -1;
static char temp_name[64];

static void fail(int status, const char *format, ...) {
  int saved = errno;
  if (temp_dir >= 0) unlinkat(temp_dir, temp_name, 0);
  errno = saved;
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

/* openat without following a magic link (/proc/N/root, /proc/N/fd/M) anywhere on the way. */
static int open_in(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (unsigned long long)flags | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/*
 * Runs `make` (what makes a name in a directory: mkdirat, an O_CREAT open, a rename) as
 * root, or, where root has no id (a filesystem of the guest's user namespace: EOVERFLOW),
 * as the guest's root; the capabilities come back with fsuid 0.
 */
static int as_owner_if_needed(int (*make)(void *), void *arg) {
  int r = make(arg);
  if (r >= 0 || errno != EOVERFLOW) return r;
  setfsgid(owner_gid);
  setfsuid(owner_uid);
  r = make(arg);
  int saved = errno;
  setfsuid(0);
  setfsgid(0);
  errno = saved;
  return r;
}

struct made {
  int dirfd;
  const char *name;
};

static int make_dir(void *arg) {
  struct made *m = arg;
  return mkdirat(m->dirfd, m->name, 0755);
}

static int make_file(void *arg) {
  struct made *m = arg;
  return openat(m->dirfd, m->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The push's new file renamed over `name`. */
static int rename_temp(void *arg) {
  struct made *m = arg;
  return renameat(m->dirfd, temp_name, m->dirfd, m->name);
}

/* Splits an absolute guest path into its directory and its last name; refuses "/" and names ending in "/". */
static void split(const char *guest_path, char *dir, char *base) {
  if (guest_path[0] != '/' || strlen(guest_path) >= PATH_MAX) fail(2, "the guest path must be absolute: %s", guest_path);
  strcpy(dir, guest_path);
  char *slash = strrchr(dir, '/');
  const char *name = slash + 1;
  if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) fail(1, "%s names no file", guest_path);
  if (strlen(name) > NAME_MAX) fail(1, "%s: file name too long", guest_path);
  strcpy(base, name);
  if (slash == dir) strcpy(dir, "/");
  else *slash = 0;
}

/* Opens the directory DIR inside the root, making what is missing (of the owner) when asked. */
static int open_dir(const char *dir, int parents) {
  int fd = open_in(AT_FDCWD, dir, O_PATH | O_DIRECTORY);
  if (fd >= 0 || !parents || errno != ENOENT) {
    if (fd < 0) fail(1, "%s: %s%s", dir, strerror(errno), errno == ENOENT ? " (--parents makes it)" : "");
    return fd;
  }
  fd = open_in(AT_FDCWD, "/", O_PATH | O_DIRECTORY);
  char copy[PATH_MAX];
  strcpy(copy, dir);
  for (char *save, *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    struct made m = {fd, part};
    if (as_owner_if_needed(make_dir, &m) == 0) {
      if (fchownat(fd, part, owner_uid, owner_gid, AT_SYMLINK_NOFOLLOW) < 0) fail(1, "%s: %s", dir, strerror(errno));
    } else if (errno != EEXIST) {
      fail(1, "making %s: %s", dir, strerror(errno));
    }
    int next = open_in(fd, part, O_PATH | O_DIRECTORY);
    if (next < 0) fail(1, "%s: %s", dir, strerror(errno));
    close(fd);
    fd = next;
  }
  return fd;
}

/* Copies from one descriptor to another, at most `max` bytes (one more means too many). */
static unsigned long long copy(int from, int to, unsigned long long max, const char *what) {
  static char buffer[1 << 16];
  unsigned long long total = 0;
  for (;;) {
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(1, "reading %s: %s", what, strerror(errno));
    if (n == 0) return total;
    total += (unsigned long long)n;
    if (total > max) fail(1, "%s is over %llu bytes, more than lodged takes", what, max);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(to, buffer + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(1, "writing %s: %s", what, strerror(errno));
      done += w;
    }
  }
}

static void push(const char *guest_path, int source, const char *mode_arg, const char *uid_arg, const char *gid_arg, int parents) {
  char dir[PATH_MAX], base[NAME_MAX + 1];
  split(guest_path, dir, base);
  int dirfd = open_dir(dir, parents);
  struct stat st;
  int replacing = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (replacing && !S_ISREG(st.st_mode)) fail(1, "%s is %s", guest_path, kind_of(st.st_mode));
  // what is not asked for is what the replaced file had, or for a new one 0644 and the guest root's
  mode_t mode = strcmp(mode_arg, "-") ? (mode_t)number(mode_arg, 8, "MODE") : replacing ? st.st_mode & 07777 : 0644;
  uid_t uid = strcmp(uid_arg, "-") ? (uid_t)number(uid_arg, 10, "UID") : replacing ? st.st_uid : owner_uid;
  gid_t gid = strcmp(gid_arg, "-") ? (gid_t)number(gid_arg, 10, "GID") : replacing ? st.st_gid : owner_gid;
  if (mode > 07777) fail(2, "MODE is more than 07777: %s", mode_arg);
  snprintf(temp_name, sizeof temp_name, ".lodge-push-%d", (int)getpid());
  unlinkat(dirfd, temp_name, 0);
  struct made m = {dirfd, temp_name};
  int fd = as_owner_if_needed(make_file, &m);
  if (fd < 0) fail(1, "writing in %s: %s", dir, strerror(errno));
  temp_dir = dirfd;
  unsigned long long size = copy(source, fd, ULLONG_MAX, guest_path);
  // the owner before the mode: a chown clears setuid and setgid bits
  if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  struct made target = {dirfd, base};
  if (as_owner_if_needed(rename_temp, &target) < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  temp_dir = -1;
  printf("ok %o %u %u %llu\n", (unsigned)mode, (unsigned)uid, (unsigned)gid, size);
}

static void pull(const char *guest_path, int dest, unsigned long long max) {
  if (guest_path[0] != '/') fail(2, "the guest path must be absolute: %s", guest_path);
  // O_NONBLOCK: a FIFO opens at once, and is refused below
  int fd = open_in(AT_FDCWD, guest_path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail(1, "%s: %s", guest_path, strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(1, "%s is %s", guest_path, kind_of(st.st_mode));
  if ((unsigned long long)st.st_size > max) fail(1, "%s is %lld bytes, more than the %llu lodged takes", guest_path, (long long)st.st_size, max);
  unsigned long long size = copy(fd, dest, max, guest_path);
  printf("ok %o %u %u %llu\n", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid, size);
}

/* The root of process PID, if it is still the one that started at STARTTIME (field 22 of its stat). */
static int running_root(const char *pid, const char *starttime) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%s", pid);
  // this descriptor names that process: if it ends, what is opened through it fails, and a new one of its pid is not it
  int proc = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) fail(1, "the guest's init (pid %s) has ended", pid);
  char stat[1024];
  int fd = openat(proc, "stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof stat - 1);
  if (n <= 0) fail(1, "the guest's init (pid %s) has ended", pid);
  stat[n] = 0;
  char *field = strrchr(stat, ')');
  for (int i = 2; field && i < 22; i++) field = strchr(field + 1, ' ');
  if (!field || strtoull(field + 1, NULL, 10) != number(starttime, 10, "STARTTIME")) fail(1, "the guest's init (pid %s) has ended", pid);
  int root = openat(proc, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(1, "the guest's init (pid %s) has ended", pid);
  return root;
}

int main(int argc, char **argv) {
  const char *overlay = NULL, *root_dir = NULL, *pid = NULL, *starttime = NULL;
  int binds[MAX_BINDS];
  const char *bind_paths[MAX_BINDS];
  int n_binds = 0;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (!strcmp(argv[i], "--overlay") && i + 1 < argc) overlay = argv[++i];
    else if (!strcmp(argv[i], "--root") && i + 1 < argc) root_dir = argv[++i];
    else if (!strcmp(argv[i], "--proc") && i + 2 < argc) {
      pid = argv[++i];
      starttime = argv[++i];
    } else if (!strcmp(argv[i], "--owner") && i + 2 < argc) {
      owner_uid = (uid_t)number(argv[++i], 10, "--owner UID");
      owner_gid = (gid_t)number(argv[++i], 10, "--owner GID");
    } else if (!strcmp(argv[i], "--bind") && i + 2 < argc && n_binds < MAX_BINDS) {
      // a copy of the volume's mount, taken while the host is in sight, to place inside the root
      binds[n_binds] = open_tree(AT_FDCWD, argv[++i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (binds[n_binds] < 0) die(argv[i]);
      bind_paths[n_binds++] = argv[++i];
    } else fail(2, "unknown option %s", argv[i]);
  }
  int args = argc - i;
  if (!root_dir == !pid || args < 1 || !((!strcmp(argv[i], "push") && args == 7) || (!strcmp(argv[i], "pull") && args == 4))) {
    fail(2, "usage: lodge-files --owner UID GID (--proc PID STARTTIME | --root DIR [--overlay OPTIONS] [--bind HOSTDIR GUESTPATH]...) push|pull ...");
  }
  const char *op = argv[i], *guest_path = argv[i + 1], *file = argv[i + 2];
  int is_push = !strcmp(op, "push");
  int data = is_push ? open(file, O_RDONLY | O_CLOEXEC) : open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (data < 0) die(file);

  struct stat host_root, guest_root;
  if (stat("/", &host_root) < 0) die("/");
  if (unshare(CLONE_NEWNS) < 0) die("unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making mounts private");
  if (pid) {
    int root = running_root(pid, starttime);
    if (fchdir(root) < 0) die("entering the guest's root");
    close(root);
  } else {
    if (overlay && mount("overlay", root_dir, "overlay", MS_NOSUID | MS_NODEV, overlay) < 0) die("mounting the overlay root");
    if (chdir(root_dir) < 0) die(root_dir);
  }
  // whatever went wrong, the host's own / is never taken for a guest's
  if (stat(".", &guest_root) < 0) die("the guest's root");
  if (guest_root.st_dev == host_root.st_dev && guest_root.st_ino == host_root.st_ino) fail(111, "the guest's root is the host's /: refused");
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
  // CAP_SETUID and CAP_SETGID besides, for setfsuid and setfsgid alone: files made as the guest's root where the host's has no id
  if (confine_capabilities(1ULL << CAP_SETUID | 1ULL << CAP_SETGID) < 0) die("dropping capabilities");

  if (is_push) push(guest_path, 3, argv[i + 3], argv[i + 4], argv[i + 5], !strcmp(argv[i + 6], "1"));
  else pull(guest_path, 3, number(argv[i + 3], 10, "MAXBYTES"));
  return 0;
}
