#ifndef DATARIGHTS_CPROCESS_H
#define DATARIGHTS_CPROCESS_H

#include <sys/types.h>

/// Starts `path` with `argv`/`envp` in `cwd`, stdin from /dev/null and stdout+stderr appended to
/// `output_fd` (or /dev/null when -1), every other descriptor closed, in a new process group.
/// When `uid` is not (uid_t)-1 the child drops to `uid`/`gid` with the supplementary `groups` (looked up
/// by the parent: nothing between fork and exec may take a lock) before exec, which is how a root parent
/// runs PostgreSQL's tools as an unprivileged user.
/// Returns the child's pid, or -errno when the fork failed. Exec failures exit the child with 127.
pid_t cprocess_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int output_fd, uid_t uid, gid_t gid, const gid_t *groups, int group_count);

#endif
