// The listening socket, opened by us rather than by MHD so that a failure says exactly what went wrong (address in
// use, no such address, permission) and port 0 can be resolved to the port the kernel chose. MHD takes it over
// (MHD_OPTION_LISTEN_SOCKET) and closes it when the daemon stops.

import Foundation
import Glibc

enum ListenSocket {
    struct Opened {
        let descriptor: Int32
        let port: UInt16
        let isIPv6: Bool
    }

    /// A non-blocking TCP socket bound to `host`:`port` and listening.
    static func open(host: String, port: UInt16) throws(HTTPServerError) -> Opened {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw HTTPServerError(
                "cannot listen on \(host):\(port): unknown address (\(String(cString: gai_strerror(status)))); "
                    + "give an IP address such as 127.0.0.1 or ::1, or a resolvable host name")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let family = info.pointee.ai_family
            let fd = socket(
                family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, 1024) == 0 else {
                lastError = errno
                close(fd)
                continue
            }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0 else {
                lastError = errno
                close(fd)
                continue
            }
            let boundPort: UInt16 = withUnsafePointer(to: &address) { pointer in
                if family == AF_INET6 {
                    return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        UInt16(bigEndian: $0.pointee.sin6_port)
                    }
                }
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin_port)
                }
            }
            return Opened(descriptor: fd, port: boundPort, isIPv6: family == AF_INET6)
        }
        let reason = String(cString: strerror(lastError))
        let advice =
            lastError == EADDRINUSE
            ? "another program uses this port; choose another one (or 0 for any free port)"
            : lastError == EACCES
                ? "ports below 1024 need privileges; choose a higher one"
                : lastError == EADDRNOTAVAIL
                    ? "this machine has no such address; use 127.0.0.1, 0.0.0.0 or one of its own addresses"
                    : "check the host and port"
        throw HTTPServerError("cannot listen on \(host):\(port): \(reason); \(advice)")
    }
}
