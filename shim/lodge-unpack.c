/*
 * lodge-unpack: unpacks an image tarball into its new rootfs in a process that cannot
 * write outside it, whatever the tarball holds and whatever lodged's checks missed.
 *
 *   lodge-unpack [--gzip] [--max-file-bytes N] TARBALL ROOTFS BUSYBOX
 *
 * It opens the tarball (as stdin) and BUSYBOX (a static busybox) while it still sees the
 * host, then enters mount, network, IPC and UTS namespaces of its own, chroots into ROOTFS,
 * closes every other descriptor, caps the size of any one file it writes, sets
 * no_new_privs and drops every capability but those that restore owners and modes
 * (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID): without
 * CAP_SYS_CHROOT it cannot climb out of the chroot, without CAP_MKNOD it makes no device,
 * without CAP_SYS_ADMIN it mounts nothing. Then it runs `busybox tar -x` from the
 * descriptor, inside a root that holds no host path. Exit status: busybox tar's, or 111
 * with a message on stderr when confining failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "lodge-unpack: %s: %s\n", what, strerror(errno));
  exit(111);
}

static const int kept_caps[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};
#define N_KEPT (sizeof kept_caps / sizeof kept_caps[0])

static int is_kept(int cap) {
  for (size_t i = 0; i < N_KEPT; i++)
    if (kept_caps[i] == cap) return 1;
  return 0;
}

static void drop_capabilities(void) {
  // the bounding set is what an exec as root gets: drop the rest there first
  for (int cap = 0; cap <= 63; cap++) {
    if (is_kept(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("dropping a capability");
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (size_t i = 0; i < N_KEPT; i++) {
    data[kept_caps[i] / 32].effective |= 1u << (kept_caps[i] % 32);
    data[kept_caps[i] / 32].permitted |= 1u << (kept_caps[i] % 32);
  }
  if (syscall(SYS_capset, &header, data) < 0) die("capset");
}

static void close_other_fds(int keep) {
  if (syscall(SYS_close_range, 3, keep - 1, 0) < 0 && keep > 3) die("close_range");
  if (syscall(SYS_close_range, keep + 1, ~0U, 0) < 0) die("close_range");
}

int main(int argc, char **argv) {
  int gzip = 0;
  unsigned long long max_file = 0;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--gzip") == 0) gzip = 1;
    else if (strcmp(argv[i], "--max-file-bytes") == 0 && i + 1 < argc) max_file = strtoull(argv[++i], NULL, 10);
    else break;
  }
  if (argc - i != 3) {
    fprintf(stderr, "usage: lodge-unpack [--gzip] [--max-file-bytes N] TARBALL ROOTFS BUSYBOX\n");
    return 2;
  }
  const char *tarball = argv[i], *rootfs = argv[i + 1], *busybox = argv[i + 2];

  int bb = open(busybox, O_RDONLY | O_CLOEXEC);
  if (bb < 0) die(busybox);
  int tar = open(tarball, O_RDONLY | O_CLOEXEC);
  if (tar < 0) die(tarball);
  if (dup2(tar, 0) < 0) die("dup2");
  close(tar);

  if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0) die("unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making mounts private");
  if (chdir(rootfs) < 0) die(rootfs);
  if (chroot(".") < 0) die("chroot");
  if (chdir("/") < 0) die("chdir /");
  close_other_fds(bb);

  if (max_file > 0) {
    struct rlimit fsize = {max_file, max_file};
    if (setrlimit(RLIMIT_FSIZE, &fsize) < 0) die("RLIMIT_FSIZE");
  }
  umask(022);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
  drop_capabilities();

  char *tar_argv[] = {"busybox", "tar", "-x", "--numeric-owner", "-f", "-", gzip ? "-z" : NULL, NULL};
  char *envp[] = {"PATH=/nonexistent", NULL};
  fexecve(bb, tar_argv, envp);
  die("running busybox tar");
}
