import Foundation

/// Runs a command to completion with its standard streams on /dev/null (so a daemon it starts, like
/// a PostgreSQL postmaster, does not hold the test's output open) and returns its exit status.
/// Uses posix_spawn + waitpid directly: Foundation's `Process.waitUntilExit` can miss the exit of a
/// child whose grandchild daemonizes.
public func spawnAndWait(_ arguments: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in [0, 1, 2] {
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    // The test process holds many descriptors (pooled connections, child pipes); a server started from here would
    // inherit them and count them against its own limit ("insufficient file descriptors available to start server
    // process"). Nothing but 0-2 is meant for the child.
    if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
        for fd in entries.compactMap({ Int32($0) }) where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    guard rc == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status >> 8) & 0xFF
}
