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
 * (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID; confine.h says why no other).
 * Then it runs `busybox tar -x` from the descriptor, inside a root that holds no host path. Exit status: busybox tar's, or 111
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
#include "confine.h"

static void die(const char *what) {
  fprintf(stderr, "lodge-unpack: %s: %s\n", what, strerror(errno));
  exit(111);
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
  if (confine_close_fds(bb) < 0) die("close_range");

  if (max_file > 0) {
    struct rlimit fsize = {max_file, max_file};
    if (setrlimit(RLIMIT_FSIZE, &fsize) < 0) die("RLIMIT_FSIZE");
  }
  umask(022);
  if (confine_capabilities(0) < 0) die("dropping capabilities");

  char *tar_argv[] = {"busybox", "tar", "-x", "--numeric-owner", "-f", "-", gzip ? "-z" : NULL, NULL};
  char *envp[] = {"PATH=/nonexistent", NULL};
  fexecve(bb, tar_argv, envp);
  die("running busybox tar");
}
