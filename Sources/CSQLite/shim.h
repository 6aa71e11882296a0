// SQLite 3 (Debian's libsqlite3-dev, 3.40) for Swift: the C API as is, plus wrappers for what Swift cannot import —
// the SQLITE_TRANSIENT destructor, a macro casting −1 to a function pointer. Owned by SessionStore: no other target
// imports CSQLite.
#ifndef VIGIL_CSQLITE_SHIM_H
#define VIGIL_CSQLITE_SHIM_H
#include <sqlite3.h>

/// Binds UTF-8 text that SQLite copies before returning (SQLITE_TRANSIENT).
static inline int vsq_bind_text(sqlite3_stmt *statement, int index, const char *text, int bytes) {
    return sqlite3_bind_text(statement, index, text, bytes, SQLITE_TRANSIENT);
}

/// Binds a blob that SQLite copies before returning (SQLITE_TRANSIENT).
static inline int vsq_bind_blob(sqlite3_stmt *statement, int index, const void *data, int bytes) {
    return sqlite3_bind_blob(statement, index, data, bytes, SQLITE_TRANSIENT);
}
#endif
