// haverify-lab-init: a tiny PID 1 for one embedded-lab node.
//
// Usage: haverify-lab-init PROGRAM [ARGS...]
//
// It runs PROGRAM as a child (the node's boot script), then reaps every
// process that ends up parented to it, forever. It never exits on its own:
// SIGTERM, SIGINT and SIGHUP are ignored, and the end of the boot script is
// just one more child to reap. The node is "powered off" by SIGKILLing this
// process from the host, which makes the kernel kill the whole PID namespace.
//
// Plain C++20, POSIX only, no dependencies.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void on_sigchld(int /*sig*/) {}

void log_line(const char* what, long value) {
  std::fprintf(stderr, "haverify-lab-init: %s %ld\n", what, value);
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }

  // Ignore the polite signals: only SIGKILL (power-off) ends a node.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE}) {
    sigaction(sig, &ignore, nullptr);
  }

  // A no-op SIGCHLD handler (never SIG_IGN: that would auto-reap and hide
  // exit statuses) and SIGCHLD blocked, so sigtimedwait() cannot miss one.
  struct sigaction chld {};
  chld.sa_handler = on_sigchld;
  sigemptyset(&chld.sa_mask);
  chld.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &chld, nullptr);

  sigset_t chld_set;
  sigemptyset(&chld_set);
  sigaddset(&chld_set, SIGCHLD);
  sigset_t old_mask;
  sigprocmask(SIG_BLOCK, &chld_set, &old_mask);

  const pid_t boot = fork();
  if (boot < 0) {
    std::fprintf(stderr, "haverify-lab-init: fork: %s\n", std::strerror(errno));
    // Stay alive anyway: an init that exits takes the node down with it.
  } else if (boot == 0) {
    // Child: default dispositions and an empty mask, then the boot program.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD}) {
      sigaction(sig, &dfl, nullptr);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    execvp(argv[1], argv + 1);
    std::fprintf(stderr, "haverify-lab-init: exec %s: %s\n", argv[1], std::strerror(errno));
    _exit(127);
  } else {
    log_line("started boot program, pid", static_cast<long>(boot));
  }

  for (;;) {
    // Reap everything that is ready.
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        break;
      }
      if (pid == boot) {
        if (WIFEXITED(status)) {
          log_line("boot program exited with status", WEXITSTATUS(status));
        } else if (WIFSIGNALED(status)) {
          log_line("boot program killed by signal", WTERMSIG(status));
        }
      }
    }
    // Wait for the next SIGCHLD; the timeout is only a safety net.
    struct timespec timeout {};
    timeout.tv_sec = 5;
    (void)sigtimedwait(&chld_set, nullptr, &timeout);
  }
}
