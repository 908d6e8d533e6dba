#include "CProcess.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void close_other_descriptors(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0) == 0) {
        return;
    }
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) {
        max = 65536;
    }
    for (int fd = 3; fd < max; fd++) {
        close(fd);
    }
}

pid_t cprocess_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int output_fd, uid_t uid, gid_t gid, const gid_t *groups, int group_count) {
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid > 0) {
        return pid;
    }
    /* Child: only async-signal-safe calls from here to exec. */
    setpgid(0, 0);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0) {
        _exit(126);
    }
    dup2(null_fd, 0);
    int out = output_fd >= 0 ? output_fd : null_fd;
    dup2(out, 1);
    dup2(out, 2);
    close_other_descriptors();
    if (uid != (uid_t)-1) {
        if (setgroups(group_count > 0 ? (size_t)group_count : 0, groups) != 0) {
            _exit(126);
        }
        if (setgid(gid) != 0 || setuid(uid) != 0) {
            _exit(126);
        }
    }
    if (cwd != NULL && chdir(cwd) != 0) {
        _exit(126);
    }
    execve(path, argv, envp);
    _exit(127);
}
