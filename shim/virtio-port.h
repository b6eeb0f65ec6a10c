/*
 * virtio-port.h: finding a virtio-serial port by its name, for Lodge's guest agents
 * (lodge-ga, lodge-execd). Busybox has no udev to make /dev/virtio-ports/NAME, so the name
 * is read from /sys/class/virtio-ports/vportXpY/name and the port opened as /dev/vportXpY.
 */
#ifndef LODGE_VIRTIO_PORT_H
#define LODGE_VIRTIO_PORT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* 0: the port named `port` is `dev`; 1: no such port (yet); -1: no virtio-serial at all */
static int find_port(const char *port, char *dev, size_t size) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    char file[300], name[64] = "";
    snprintf(file, sizeof file, "/sys/class/virtio-ports/%.200s/name", e->d_name);
    FILE *f = fopen(file, "re");
    if (!f) continue;
    if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = 0;
    fclose(f);
    if (!strcmp(name, port)) found = snprintf(dev, size, "/dev/%.200s", e->d_name) > 0;
  }
  closedir(d);
  return found ? 0 : 1;
}

/* waits up to 30 s for the port to appear (shortly after virtio_console loads): 0 once it has; else there is none to serve */
static int wait_for_port(const char *port, char *dev, size_t size) {
  int r = 1;
  for (int i = 0; i < 300 && (r = find_port(port, dev, size)) == 1; i++) usleep(100000);
  return r;
}

/* opens the port (or line) `dev` for the agent `who`, trying for 5 s; -1, said on stderr, if it cannot */
static int open_port(const char *dev, const char *who) {
  int fd = -1;
  for (int i = 0; i < 50 && (fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0; i++) usleep(100000);
  if (fd < 0) fprintf(stderr, "%s: %s: %s\n", who, dev, strerror(errno));
  return fd;
}

#endif
