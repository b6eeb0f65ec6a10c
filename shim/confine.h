/*
 * What lodge-unpack and lodge-files keep of root's powers once they are in a guest's
 * root: owners and modes, nothing more. Without CAP_SYS_CHROOT a process cannot climb
 * out of its chroot, without CAP_DAC_READ_SEARCH it cannot open a file by its handle
 * (open_by_handle_at reaches any inode of a filesystem, outside the chroot too; reading
 * and searching past modes is CAP_DAC_OVERRIDE's anyway), without CAP_MKNOD it makes no
 * device, without CAP_SYS_ADMIN it mounts nothing. Each returns -1 with errno set on failure.
 */
#ifndef LODGE_CONFINE_H
#define LODGE_CONFINE_H
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int confine_kept_caps[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID};
#define CONFINE_N_KEPT (sizeof confine_kept_caps / sizeof confine_kept_caps[0])

static int confine_is_kept(int cap, unsigned long long extra) {
  if (extra & (1ULL << cap)) return 1;
  for (size_t i = 0; i < CONFINE_N_KEPT; i++)
    if (confine_kept_caps[i] == cap) return 1;
  return 0;
}

/*
 * Sets no_new_privs and drops every capability but the kept ones (and those of `extra`,
 * a mask of 1 << CAP_X), from the bounding set too.
 */
static int confine_capabilities(unsigned long long extra) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  for (int cap = 0; cap <= 63; cap++) {
    if (confine_is_kept(cap, extra)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int cap = 0; cap <= 63; cap++) {
    if (!confine_is_kept(cap, extra)) continue;
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
  }
  return syscall(SYS_capset, &header, data) < 0 ? -1 : 0;
}

/* Closes every descriptor from 3 up but `keep` (-1: keeps none). */
static int confine_close_fds(int keep) {
  if (keep > 3 && syscall(SYS_close_range, 3, keep - 1, 0) < 0) return -1;
  return syscall(SYS_close_range, keep < 3 ? 3 : keep + 1, ~0U, 0) < 0 ? -1 : 0;
}

#endif
