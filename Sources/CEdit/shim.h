// libedit (BSD editline, Debian's libedit-dev 3.1) for Swift: the native el_* editor and history API. Owned by
// VigilCLI's Terminal/LineEditor: no other target imports CEdit. Swift cannot call C variadic functions (el_set,
// el_get, history, ioctl), so each operation the line editor uses has a fixed-signature wrapper below.
#ifndef VIGIL_CEDIT_SHIM_H
#define VIGIL_CEDIT_SHIM_H
#include <histedit.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <wchar.h>

/// The prompt callback (EL_PROMPT_ESC): returns the prompt, with invisible runs between two `ignore` characters.
typedef char *(*vce_prompt_fn)(EditLine *);
/// The character source (EL_GETCFN): stores one character, returns 1, 0 at end of input, -1 on error.
typedef int (*vce_getc_fn)(EditLine *, wchar_t *);

static inline int vce_set_prompt(EditLine *el, vce_prompt_fn f, char ignore) {
    return el_set(el, EL_PROMPT_ESC, f, ignore);
}
static inline int vce_set_editor(EditLine *el, const char *mode) { return el_set(el, EL_EDITOR, mode); }
static inline int vce_set_getc(EditLine *el, vce_getc_fn f) { return el_set(el, EL_GETCFN, f); }
static inline int vce_set_client_data(EditLine *el, void *data) { return el_set(el, EL_CLIENTDATA, data); }
static inline void *vce_client_data(EditLine *el) {
    void *data = NULL;
    el_get(el, EL_CLIENTDATA, &data);
    return data;
}
static inline int vce_set_history(EditLine *el, History *h) { return el_set(el, EL_HIST, history, h); }
static inline int vce_set_signal_handling(EditLine *el, int on) { return el_set(el, EL_SIGNAL, on); }
/// EL_UNBUFFERED on: el_wgets returns after every command; switching it on (re)starts a line and draws the prompt.
static inline int vce_set_unbuffered(EditLine *el, int on) { return el_set(el, EL_UNBUFFERED, on); }
/// Redraws prompt and line from scratch, assuming the cursor is at column 0 of the first row of the input.
static inline int vce_refresh(EditLine *el) { return el_set(el, EL_REFRESH); }
/// Raw (editing) mode on (1) or back to the cooked mode el_init found (0).
static inline int vce_prepare_terminal(EditLine *el, int raw) { return el_set(el, EL_PREP_TERM, raw); }
static inline int vce_bind(EditLine *el, const char *key, const char *command) {
    return el_set(el, EL_BIND, key, command, (const char *)NULL);
}

static inline int vce_history_set_size(History *h, int size) {
    HistEvent event;
    return history(h, &event, H_SETSIZE, size);
}
static inline int vce_history_set_unique(History *h, int on) {
    HistEvent event;
    return history(h, &event, H_SETUNIQUE, on);
}
static inline int vce_history_enter(History *h, const char *line) {
    HistEvent event;
    return history(h, &event, H_ENTER, line);
}
static inline int vce_history_load(History *h, const char *path) {
    HistEvent event;
    return history(h, &event, H_LOAD, path);
}
static inline int vce_history_save(History *h, const char *path) {
    HistEvent event;
    return history(h, &event, H_SAVE, path);
}
/// Number of entries (H_GETSIZE).
static inline int vce_history_count(History *h) {
    HistEvent event;
    if (history(h, &event, H_GETSIZE) < 0) return -1;
    return event.num;
}

/// The terminal size of `fd` (TIOCGWINSZ); returns 0 on success.
static inline int vce_window_size(int fd, int *columns, int *rows) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *columns = size.ws_col;
    *rows = size.ws_row;
    return 0;
}

/// Columns `c` takes on a terminal (wcwidth: -1 for non-printable characters), under the current LC_CTYPE.
static inline int vce_wcwidth(wchar_t c) { return wcwidth(c); }

/// 1 when `signo` is currently ignored (SIG_IGN), e.g. SIGTSTP under a shell without job control.
static inline int vce_signal_is_ignored(int signo) {
    struct sigaction action;
    if (sigaction(signo, NULL, &action) != 0) return 0;
    return action.sa_handler == SIG_IGN;
}

/// The C library's standard error stream (libedit's error output).
static inline FILE *vce_stderr(void) { return stderr; }

/// The character set of the current LC_CTYPE locale ("UTF-8", "ANSI_X3.4-1968", ...).
static inline const char *vce_codeset(void) { return nl_langinfo(CODESET); }
#endif
