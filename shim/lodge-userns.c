/*
 * lodge-userns: runs a program that reads hostile bytes (a guest's disk, through debugfs
 * or qemu-img) as the root of a user namespace of its own, so that what a flaw in that
 * program lets a guest do, it does as no one on the host.
 *
 *   lodge-userns HOSTID COUNT PROGRAM [ARG]...
 *
 * The namespace's ids 0..COUNT-1 are the host's HOSTID..HOSTID+COUNT-1 (a range no guest and
 * no host user has): the program keeps the owners it reads (it may give files any of those
 * ids), and outside that range it is "others" on every file and process of the host. It
 * also gets network, IPC, UTS, PID and mount namespaces of its own: no network; when it ends
 * every process it left is killed with its namespace, so none touches its files afterwards;
 * and the host's world-writable directories (/tmp, /var/tmp, /dev/shm) are small tmpfs of its
 * own, so that what a hostile disk makes it write through a link there fills nothing of the
 * host's and is gone with it (a directory an argument names a path in is left as it is: the
 * program's own files are there, as a lodged whose state is under /tmp has them).
 * No new privileges (setuid programs do not raise it), no descriptor past stderr.
 * Exit status: the program's (128+N when signal N ended it), or 111 with a message on
 * stderr when the namespace could not be made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "lodge-userns: %s: %s\n", what, strerror(errno));
  _exit(111);
}

static void write_file(const char *file, const char *text) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(file);
  ssize_t n = write(fd, text, strlen(text));
  if (n != (ssize_t)strlen(text)) die(file);
  close(fd);
}

/* Waits for `pid` and exits as it did. */
static void exit_as(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid");
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: lodge-userns HOSTID COUNT PROGRAM [ARG]...\n");
    return 2;
  }
  char *end;
  unsigned long host_id = strtoul(argv[1], &end, 10);
  if (*end || host_id == 0 || host_id > 4000000000UL) {
    fprintf(stderr, "lodge-userns: HOSTID %s is not an id above 0\n", argv[1]);
    return 2;
  }
  unsigned long count = strtoul(argv[2], &end, 10);
  if (*end || count == 0 || count > 65536) {
    fprintf(stderr, "lodge-userns: COUNT %s is not between 1 and 65536\n", argv[2]);
    return 2;
  }
  if (syscall(SYS_close_range, 3, ~0U, 0) < 0) die("close_range");

  /* the child makes the namespaces; this process, still root on the host, writes its id maps */
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("PR_SET_PDEATHSIG");
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS) < 0) die("unshare");
    char c = 0;
    if (write(ready[1], &c, 1) != 1) die("telling the parent");
    if (read(go[0], &c, 1) != 1) _exit(111); /* the parent failed and said why */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("becoming the namespace's root");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making the mounts private");
    static const char *const shared[] = {"/tmp/", "/var/tmp/", "/dev/shm/"};
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
      int named = 0;
      for (int a = 3; a < argc && !named; a++) named = strstr(argv[a], shared[i]) != NULL;
      if (named) continue;
      char dir[16];
      snprintf(dir, sizeof dir, "%.*s", (int)strlen(shared[i]) - 1, shared[i]);
      if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,mode=1777") < 0) die(dir);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
    /* the program is the first process of the new PID namespace: all it leaves dies with it */
    pid_t prog = fork();
    if (prog < 0) die("fork");
    if (prog == 0) {
      execvp(argv[3], argv + 3);
      die(argv[3]);
    }
    exit_as(prog);
  }
  close(ready[1]);
  close(go[0]);
  char c;
  if (read(ready[0], &c, 1) != 1) exit_as(child);
  char file[64], map[64];
  snprintf(map, sizeof map, "0 %lu %lu\n", host_id, count);
  snprintf(file, sizeof file, "/proc/%d/setgroups", (int)child);
  write_file(file, "deny");
  snprintf(file, sizeof file, "/proc/%d/uid_map", (int)child);
  write_file(file, map);
  snprintf(file, sizeof file, "/proc/%d/gid_map", (int)child);
  write_file(file, map);
  if (write(go[1], &c, 1) != 1) die("telling the child");
  exit_as(child);
}
