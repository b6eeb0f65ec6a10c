/*
 * agent-child.h: the start of a command that Lodge's guest agents (lodge-ga, lodge-execd)
 * run: in a session of its own (so a signal reaches its process group; a terminal as its
 * input becomes its controlling terminal), every signal at its default and none blocked,
 * its stdio the given descriptors, and the PATH its request gave for execvpe's search.
 */
#ifndef LODGE_AGENT_CHILD_H
#define LODGE_AGENT_CHILD_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void become_command(int in, int out, int err, char **envp) {
  setsid();
  if (isatty(in)) ioctl(in, TIOCSCTTY, 0);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  /* execvpe searches this process's PATH: take the one the request gave */
  for (char **e = envp; e && *e; e++)
    if (!strncmp(*e, "PATH=", 5)) setenv("PATH", *e + 5, 1);
}

#endif
