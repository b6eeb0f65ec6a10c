/*
 * lodge-uml-xstate.so: preloaded into User-Mode Linux so that Debian's UML (6.1) runs on a
 * host whose CPU has AMX.
 *
 * UML saves and restores the vector registers of each guest process it runs with
 * PTRACE_GETREGSET / PTRACE_SETREGSET(NT_X86_XSTATE), in a buffer sized for the features it
 * knows (2,696 bytes with AVX-512). The host kernel's XSAVE layout there also holds the AMX
 * tile state (11,008 bytes in all), and the kernel takes only a whole buffer on SETREGSET:
 * UML's shorter one fails with EFAULT, and UML kills the guest's init ("userspace - ptrace
 * set fp regs failed, errno = 14").
 *
 * A short SETREGSET is completed here: the process's whole state is read, UML's bytes are
 * laid over its start, and the header's feature bits come from UML for every component its
 * buffer holds whole and from the process for the rest (AMX, which a guest process cannot
 * enable: UML answers its arch_prctl itself). Taking the bits of a component UML holds from
 * the process instead would mark its registers unused and zero them (glibc's AVX-512 memcpy
 * then copies zeros). Every other call goes to glibc's ptrace unchanged.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* the XSAVE header (its feature bitmap first) follows the 512-byte legacy area */
#define XSTATE_FEATURES_AT 512

/* UML runs its guest's processes one at a time, on kernel stacks too small for this */
static unsigned char whole[65536];

/*
 * The features whose registers lie whole within the first `len` bytes (standard format).
 * Asked of CPUID once: in a virtual machine each CPUID is an exit to the hypervisor, and
 * UML sets these registers at every system call of its guest.
 */
static uint64_t features_within(size_t len) {
  static size_t known_len;
  static uint64_t known;
  if (len == known_len) return known;
  uint64_t within = 3; /* x87 and SSE: the legacy area */
  for (unsigned i = 2; i < 63; i++) {
    unsigned size, offset, ecx, edx;
    __cpuid_count(0xd, i, size, offset, ecx, edx);
    if (size && (size_t)offset + size <= len) within |= 1ull << i;
  }
  known_len = len;
  known = within;
  return within;
}

/* SETREGSET of a buffer shorter than the kernel's: whole, as described above; -2 when not short. */
static long set_short_xstate(pid_t pid, void *addr, const struct iovec *given) {
  struct iovec all = {whole, sizeof whole};
  if (syscall(SYS_ptrace, PTRACE_GETREGSET, pid, addr, &all) != 0 || all.iov_len <= given->iov_len || given->iov_len < XSTATE_FEATURES_AT + 8) return -2;
  uint64_t current, uml;
  memcpy(&current, whole + XSTATE_FEATURES_AT, sizeof current);
  memcpy(whole, given->iov_base, given->iov_len);
  memcpy(&uml, whole + XSTATE_FEATURES_AT, sizeof uml);
  uint64_t within = features_within(given->iov_len);
  uint64_t features = (uml & within) | (current & ~within);
  memcpy(whole + XSTATE_FEATURES_AT, &features, sizeof features);
  return syscall(SYS_ptrace, PTRACE_SETREGSET, pid, addr, &all);
}

long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);
  if (request == PTRACE_SETREGSET && (uintptr_t)addr == NT_X86_XSTATE && data) {
    long done = set_short_xstate(pid, addr, data);
    if (done != -2) return done;
  }
  static long (*glibc)(enum __ptrace_request, ...);
  if (!glibc) glibc = (long (*)(enum __ptrace_request, ...))dlsym(RTLD_NEXT, "ptrace");
  return glibc(request, pid, addr, data);
}
