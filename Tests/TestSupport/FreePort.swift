#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it for a socket bound to port 0).
public enum FreePort {
    public static func next() -> Int {
        let (port, descriptor) = bound()
        close(descriptor)
        return port
    }

    /// A port held by a socket listening on it, so that a server started on it cannot listen: close
    /// `descriptor` to free it.
    public static func held() -> (port: Int, descriptor: Int32) {
        let (port, descriptor) = bound()
        precondition(listen(descriptor, 1) == 0, "listen() failed")
        return (port, descriptor)
    }

    private static func bound() -> (port: Int, descriptor: Int32) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(descriptor >= 0, "socket() failed")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(bound == 0, "bind() failed")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
    }
}
