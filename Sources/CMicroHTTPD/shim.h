// GNU libmicrohttpd 0.9.75 (Debian 12 libmicrohttpd-dev) for Swift. Owned by HTTPServer: no other target imports
// CMicroHTTPD. Swift cannot call C variadic functions, and MHD_start_daemon is one (its options are a variadic list
// ending in MHD_OPTION_END), so `vmhd_start_daemon` passes a fixed set of options; MHD's logger takes a va_list,
// so `vmhd_log_trampoline` formats the message and hands Swift a plain string; MHD_get_connection_info is variadic
// too (`vmhd_connection_socket`).
#ifndef VIGIL_CMICROHTTPD_SHIM_H
#define VIGIL_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Where MHD's log lines go: `write(context, line)` with the formatted line.
struct vmhd_logger {
    void (*write)(void *context, const char *line);
    void *context;
};

static inline void vmhd_log_trampoline(void *cls, const char *format, va_list ap) {
    struct vmhd_logger *logger = (struct vmhd_logger *)cls;
    char line[512];
    vsnprintf(line, sizeof line, format, ap);
    logger->write(logger->context, line);
}

/// The daemon's settings (everything MHD_start_daemon is given besides the flags).
struct vmhd_settings {
    /// A bound, listening, non-blocking socket; MHD owns (and closes) it once the daemon has started.
    int listen_socket;
    unsigned int thread_pool_size;
    unsigned int connection_limit;
    size_t connection_memory_limit;
    /// Seconds of inactivity after which a (not suspended) connection is closed; 0 = never.
    unsigned int connection_timeout;
    MHD_AccessHandlerCallback access_handler;
    void *access_handler_context;
    MHD_RequestCompletedCallback request_completed;
    void *request_completed_context;
    struct vmhd_logger *logger;
};

/// Starts a daemon with `flags` and `settings`; NULL when MHD refuses (the logger has been told why).
static inline struct MHD_Daemon *vmhd_start_daemon(unsigned int flags, const struct vmhd_settings *settings) {
    return MHD_start_daemon(
        flags, 0, NULL, NULL, settings->access_handler, settings->access_handler_context,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)settings->listen_socket,
        MHD_OPTION_THREAD_POOL_SIZE, settings->thread_pool_size,
        MHD_OPTION_CONNECTION_LIMIT, settings->connection_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, settings->connection_memory_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, settings->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, settings->request_completed, settings->request_completed_context,
        MHD_OPTION_EXTERNAL_LOGGER, vmhd_log_trampoline, (void *)settings->logger,
        MHD_OPTION_END);
}

/// The socket of `connection` (MHD_get_connection_info is variadic); -1 when MHD does not say.
static inline int vmhd_connection_socket(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : (int)info->connect_fd;
}

#endif
