// The input line of `vigil watch`: an editable prompt at the bottom of the terminal, with status lines, commentary
// and streamed answers scrolling above it. Editing, key bindings and history are libedit's (the native el_* and
// history API through CEdit); this file owns the terminal around it.
//
// How it works:
//   - A dedicated reader thread runs libedit unbuffered (EL_UNBUFFERED: one command, a key or a key sequence, per
//     el_wgets call). libedit's characters come from our EL_GETCFN callback, which waits for terminal bytes with
//     poll() on stdin and a wake-up pipe (so close() can stop it). Swift's cooperative pool never blocks on the
//     terminal.
//   - One lock serialises every terminal write: libedit's (key handling, redisplay) and ours. The reader thread
//     holds it while libedit works and releases it while waiting for input. A write erases the rows this editor
//     owns (the partial output row and the input rows; see TerminalLayout.swift), prints the completed rows and
//     the partial row, and has libedit redraw the prompt, the half-typed text and the cursor (EL_REFRESH) below.
//   - Ctrl-C stays a signal (libedit keeps ISIG): it reaches `Interruption`, whose handler closes the editor.
//     close(), Ctrl-D at an empty line, the end of input, deinit and exit() (an atexit hook) all restore the
//     terminal settings found at start.
//   - While the editor is open, `Console` hands writes aimed at the terminal (Log lines on stderr, stray
//     Console.out) to the editor: stdout text is written like `write`, complete stderr lines like `writeStatus`.

import CEdit
import Dispatch
import Foundation
import Glibc
import Synchronization
import VigilCore

/// An input line at the bottom of the terminal that output scrolls above.
///
/// ```swift
/// let editor = try LineEditor(prompt: "> ", historyFile: LineEditor.defaultHistoryFile)
/// defer { editor.close() }
/// for await question in editor.lines { editor.write("you asked: \(question)\n") }
/// ```
public final class LineEditor: @unchecked Sendable {
    /// True when standard input and standard output are both terminals (the editor needs both).
    public static var isAvailable: Bool { isatty(0) == 1 && isatty(1) == 1 }

    /// `${VIGIL_CACHE:-~/.cache/vigil}/watch_history` (its folder is created when the first line is saved).
    public static var defaultHistoryFile: URL {
        let cache =
            ProcessInfo.processInfo.environment["VIGIL_CACHE"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/vigil")
        return cache.appendingPathComponent("watch_history")
    }

    /// Each line the user enters (Enter), in order, without its newline; finishes on Ctrl-D at an empty line, at
    /// the end of input, on Ctrl-C (SIGINT/SIGTERM) or after close(). One consumer.
    public let lines: AsyncStream<String>

    private let core: EditorCore

    /// Takes over the terminal and shows `prompt`. `historyFile` is loaded (if it exists) and rewritten after
    /// every entered line (nil = no history file; Up/Down still recall this session's lines). A file libedit cannot
    /// read is reported with a warning and left as it is. Throws if stdin or stdout is not a terminal.
    public init(prompt: String, historyFile: URL?) throws {
        guard isatty(0) == 1 else { throw LineEditorError.notATerminal("standard input") }
        guard isatty(1) == 1 else { throw LineEditorError.notATerminal("standard output") }
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        lines = stream
        core = try EditorCore(prompt: prompt, historyFile: historyFile, lines: continuation)
        core.start()
    }

    deinit { core.close() }

    /// Writes `text` (any mix of complete and partial lines, e.g. answer tokens one by one) above the input line;
    /// the half-typed input and the cursor are redrawn intact below it. Long lines wrap at a space. Thread-safe.
    /// After close(), writes straight to standard output.
    public func write(_ text: String) { core.write(text) }

    /// Writes `line` as one complete line (a status or log line) above the partial line being streamed, if any,
    /// so it never lands in the middle of an answer; the partial line is redrawn below it. Thread-safe.
    public func writeStatus(_ line: String) { core.writeStatus(line) }

    /// Replaces the prompt (e.g. "[00:12:03] > "). ANSI colour sequences are allowed and take no width.
    public func setPrompt(_ prompt: String) { core.setPrompt(prompt) }

    /// Erases the input line, finishes `lines` and restores the terminal; idempotent. A partial output line is
    /// kept and ended with a newline.
    public func close() { core.close() }
}

/// Why the line editor cannot start.
public enum LineEditorError: UserFacingError, Equatable {
    /// `stream` ("standard input" / "standard output") is not a terminal.
    case notATerminal(String)
    /// Another LineEditor owns the terminal.
    case alreadyActive
    /// libedit or the terminal could not be set up.
    case cannotStart(String)

    public var description: String {
        switch self {
        case .notATerminal(let stream):
            return "\(stream) is not a terminal: the interactive input line needs one (run in a terminal, or pipe "
                + "the questions in as lines)"
        case .alreadyActive:
            return "an input line is already active on this terminal (close it before starting another)"
        case .cannotStart(let reason):
            return "cannot set up the terminal input line: \(reason)"
        }
    }
}

// MARK: - The editor

/// The state shared by the reader thread, the writers and libedit's callbacks. Every field below `lock` is
/// guarded by it; libedit is only ever called with it held.
private final class EditorCore: @unchecked Sendable {
    private let lock = NSLock()
    private let closeRequested = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    private let continuation: AsyncStream<String>.Continuation
    /// Where entered lines are saved; nil without a history file, or when the file could not be read (it is then
    /// left as it is).
    private var historyFile: URL?
    /// The wake-up pipe (read end polled by the reader thread); nil once closed, so close() never writes to a
    /// file descriptor number that has been reused.
    private let wakePipe = Mutex<(read: Int32, write: Int32)?>(nil)
    private let wakeRead: Int32

    private var editLine: OpaquePointer?
    private var history: OpaquePointer?
    private var editInput: UnsafeMutablePointer<FILE>?
    private var editOutput: UnsafeMutablePointer<FILE>?
    private var isActive = false
    private var prompt: Prompt
    private var layout: OutputLayout
    private var columns: Int
    private var rows: Int
    /// Whether the partial output row is on screen right above the input rows.
    private var partialRowShown = false
    /// Bytes read from the terminal, not yet handed to libedit.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var inputEnded = false
    private var readerThread: pthread_t?
    private var signalSources: [DispatchSourceSignal] = []
    /// SIGTSTP's disposition before the editor took it over (restored at teardown), if it did.
    private var originalSuspendAction: sigaction?
    /// Stopped by Ctrl-Z: the terminal is in its original mode until SIGCONT.
    private var isSuspended = false
    private var historyWarning: String?

    /// Sets up libedit and the history (nothing is drawn yet); throws if the terminal cannot be taken over.
    init(prompt: String, historyFile: URL?, lines: AsyncStream<String>.Continuation) throws {
        self.continuation = lines
        self.historyFile = historyFile
        self.prompt = Prompt(prompt)
        let (columns, rows) = Self.windowSize()
        self.columns = columns
        self.rows = rows
        self.layout = OutputLayout(columns: columns)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw LineEditorError.cannotStart("pipe() failed: errno \(errno)") }
        wakeRead = pipeFDs[0]
        wakePipe.withLock { $0 = (pipeFDs[0], pipeFDs[1]) }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var ownsTerminal = false
        do {
            try setUp(ownsTerminal: &ownsTerminal)
        } catch {
            tearDownLibedit()
            if ownsTerminal { TerminalExitGuard.deactivate() }
            closeWakePipe()
            throw error
        }
    }

    /// el_init and friends; on a throw, `tearDownLibedit` undoes whatever was done.
    private func setUp(ownsTerminal: inout Bool) throws {
        TerminalWidth.useUTF8Locale()
        var original = termios()
        guard tcgetattr(0, &original) == 0 else {
            throw LineEditorError.cannotStart("cannot read the terminal settings of standard input (errno \(errno))")
        }
        guard TerminalExitGuard.activate(restoring: original) else { throw LineEditorError.alreadyActive }
        ownsTerminal = true

        let inputFD = dup(0)
        let outputFD = dup(1)
        editInput = inputFD >= 0 ? fdopen(inputFD, "r") : nil
        editOutput = outputFD >= 0 ? fdopen(outputFD, "w") : nil
        guard let editInput, let editOutput else {
            if editInput == nil, inputFD >= 0 { Glibc.close(inputFD) }
            if editOutput == nil, outputFD >= 0 { Glibc.close(outputFD) }
            throw LineEditorError.cannotStart("cannot open the terminal (errno \(errno))")
        }
        guard let editLine = el_init("vigil", editInput, editOutput, vce_stderr()) else {
            throw LineEditorError.cannotStart("libedit's el_init failed (is TERM set?)")
        }
        self.editLine = editLine

        guard let history = history_init() else { throw LineEditorError.cannotStart("libedit's history_init failed") }
        self.history = history
        _ = vce_history_set_size(history, 1000)
        _ = vce_history_set_unique(history, 1)
        if let historyFile, FileManager.default.fileExists(atPath: historyFile.path),
            vce_history_load(history, historyFile.path) < 0
        {
            historyWarning = "cannot read the history file \(historyFile.path): it is not a libedit history file (it "
                + "must start with _HiStOrY_V2_); history is kept for this session only and the file is left as it is "
                + "(move it away to start a new one)"
            self.historyFile = nil
        }

        _ = vce_set_editor(editLine, "emacs")
        _ = vce_set_signal_handling(editLine, 0)
        _ = vce_set_history(editLine, history)
        _ = vce_set_client_data(editLine, Unmanaged.passUnretained(self).toOpaque())
        _ = vce_set_getc(editLine, readCharacterCallback)
        _ = vce_set_prompt(editLine, promptCallback, Prompt.invisibleMarker)
        _ = el_source(editLine, nil)  // ~/.editrc or $EDITRC, if any ("vigil:" lines apply to us only)
    }

    /// Draws the prompt, hooks Console, SIGWINCH and interruption, and starts the reader thread.
    func start() {
        finished.enter()  // left by finishUp: close() waits for the teardown from here on
        lock.withLock {
            // Unbuffered mode starts a line: raw mode, then the prompt is drawn at the cursor.
            _ = vce_set_unbuffered(editLine, 1)
            isActive = true
        }
        Console.setTerminalSink { [weak self] text, fd in
            guard let self else { return writeAll(fd, text) }
            self.consoleWrite(text, fd: fd)
        }
        if let warning = lock.withLock({ () -> String? in
            defer { historyWarning = nil }
            return historyWarning
        }) {
            Log.warning(warning)  // drawn above the input line, through the sink
        }
        handleSignal(SIGWINCH) { $0.resize() }
        // Ctrl-Z: give the terminal back before stopping, take it again on SIGCONT. Not when SIGTSTP is ignored
        // (a shell without job control): then Ctrl-Z does nothing, as it would without the editor.
        var suspendAction = sigaction()
        if vce_signal_is_ignored(SIGTSTP) == 0, sigaction(SIGTSTP, nil, &suspendAction) == 0 {
            originalSuspendAction = suspendAction
            handleSignal(SIGTSTP) { $0.suspend() }
        }
        handleSignal(SIGCONT) { $0.resume() }
        Interruption.install()
        Interruption.onInterrupt { [weak self] in self?.close() }

        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { context in
            let core = Unmanaged<EditorCore>.fromOpaque(context!).takeRetainedValue()
            core.readLoop()
            return nil
        }, context)
        if status == 0 {
            readerThread = thread
            pthread_detach(thread)
        } else {
            Unmanaged<EditorCore>.fromOpaque(context).release()
            finishUp()
        }
    }

    // MARK: Writers

    /// See LineEditor.write.
    func write(_ text: String) {
        guard !text.isEmpty else { return }
        lock.lock()
        guard isActive, !isSuspended else {
            lock.unlock()
            return writeAll(1, text)
        }
        let (erase, resized) = beginRedraw()
        draw(erase, resized + layout.append(text), then: .refresh)
        lock.unlock()
    }

    /// See LineEditor.writeStatus.
    func writeStatus(_ line: String) {
        var line = line
        if line.hasSuffix("\n") { line.removeLast() }
        lock.lock()
        guard isActive, !isSuspended else {
            lock.unlock()
            return writeAll(1, line + "\n")
        }
        let (erase, resized) = beginRedraw()
        var status = OutputLayout(columns: columns)
        draw(erase, resized + status.append(line + "\n"), then: .refresh)
        lock.unlock()
    }

    /// See LineEditor.setPrompt.
    func setPrompt(_ text: String) {
        let newPrompt = Prompt(text)
        lock.lock()
        defer { lock.unlock() }
        guard isActive, !isSuspended else {
            prompt = newPrompt
            return
        }
        let (erase, resized) = beginRedraw()  // where the old prompt put the cursor
        prompt = newPrompt
        draw(erase, resized, then: .refresh)
    }

    /// A write that Console diverted: stdout text streams like `write`; complete stderr lines go above it.
    private func consoleWrite(_ text: String, fd: Int32) {
        if fd == 2, text.hasSuffix("\n") {
            for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
                writeStatus(String(line))
            }
        } else if fd == 1 || fd == 2 {
            write(text)
        } else {
            writeAll(fd, text)
        }
    }

    /// Runs `body` on a Dispatch queue for each `signo` (whose default action is then off).
    private func handleSignal(_ signo: Int32, _ body: @escaping @Sendable (EditorCore) -> Void) {
        signal(signo, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
        source.setEventHandler { [weak self] in
            if let self { body(self) }
        }
        source.resume()
        signalSources.append(source)
    }

    /// SIGTSTP (Ctrl-Z): end the partial row, erase the input line, restore the terminal, stop.
    private func suspend() {
        let stop = lock.withLock { () -> Bool in
            guard isActive, !isSuspended else { return false }
            let (erase, resized) = beginRedraw()
            var out = erase + resized.map { $0 + "\r\n" }.joined()
            if let row = layout.finishRow() { out += row + (row.contains("\u{1B}") ? "\u{1B}[0m" : "") + "\r\n" }
            partialRowShown = false
            fflush(editOutput)
            writeAll(1, out)
            _ = vce_prepare_terminal(editLine, 0)
            isSuspended = true
            return true
        }
        if stop { kill(getpid(), SIGSTOP) }
    }

    /// SIGCONT: raw mode again, and the input line redrawn where the cursor now is (after the shell's messages
    /// when we were stopped by Ctrl-Z; in place otherwise).
    private func resume() {
        lock.withLock {
            guard isActive else { return }
            _ = vce_prepare_terminal(editLine, 0)
            _ = vce_prepare_terminal(editLine, 1)
            if isSuspended {
                isSuspended = false
                draw("\r", [], then: .refresh)
            } else {
                let (erase, resized) = beginRedraw()
                draw(erase, resized, then: .refresh)
            }
        }
    }

    private func resize() {
        lock.lock()
        defer { lock.unlock() }
        guard isActive, !isSuspended, Self.windowSize() != (columns, rows) else { return }
        let (erase, resized) = beginRedraw()
        draw(erase, resized, then: .refresh)
    }

    /// Asks the reader thread to tear down and waits until it has (unless called on it). Idempotent.
    func close() {
        if !closeRequested.exchange(true, ordering: .acquiringAndReleasing) {
            wakePipe.withLock { pipe in
                var byte: UInt8 = 1
                if let pipe { _ = Glibc.write(pipe.write, &byte, 1) }
            }
        }
        // The reader thread tears down; wait for it unless this is it (then it tears down right after).
        if let readerThread, pthread_equal(readerThread, pthread_self()) != 0 { return }
        finished.wait()
    }

    // MARK: Drawing (lock held)

    private enum AfterDrawing {
        /// libedit redraws the prompt and the line as they are.
        case refresh
        /// libedit starts a new, empty line (after Enter).
        case newLine
    }

    /// The sequence that erases the rows this editor owns, and the rows a change of terminal width completed (to
    /// write before the partial row). The size is checked on every redraw, not only on SIGWINCH, since a write can
    /// come between the resize and its signal. Terminals that reflow on resize (tmux, VTE, iTerm2, kitty) have
    /// re-wrapped the input and the partial row at the new width, so they are looked for there; one that truncates
    /// instead (xterm) may keep a stale row.
    private func beginRedraw() -> (erase: String, completed: [String]) {
        let (newColumns, newRows) = Self.windowSize()
        guard newColumns != columns || newRows != rows else {
            return (eraseSequence(cursorRow: inputCursorRow()), [])
        }
        columns = newColumns
        rows = newRows
        let partialRows = partialRowShown ? (layout.partialWidth + newColumns - 1) / newColumns : 0
        let erase = eraseSequence(cursorRow: inputCursorRow(), partialRows: partialRows)
        let completed = layout.setColumns(newColumns)
        el_resize(editLine)
        return (erase, completed)
    }

    /// Moves to the first row this editor owns (the partial row, or the prompt's first row) and clears to the end
    /// of the screen. `cursorRow` is the cursor's row counted from the prompt's first row; the partial row takes
    /// one row unless `partialRows` says otherwise.
    private func eraseSequence(cursorRow: Int, partialRows: Int? = nil) -> String {
        let up = cursorRow + (partialRows ?? (partialRowShown ? 1 : 0))
        return (up > 0 ? "\u{1B}[\(up)A" : "") + "\r\u{1B}[J"
    }

    /// Writes `erase`, the completed rows and the partial row, then has libedit draw the input line below.
    private func draw(_ erase: String, _ completed: [String], then after: AfterDrawing) {
        var out = erase
        for row in completed { out += row + "\r\n" }
        out += layout.partialText
        if layout.partialHasEscapes { out += "\u{1B}[0m" }
        if layout.partialWidth > 0 { out += "\r\n" }
        partialRowShown = layout.partialWidth > 0
        fflush(editOutput)
        writeAll(1, out)
        switch after {
        case .refresh:
            _ = vce_refresh(editLine)
        case .newLine:
            // Leaving and re-entering unbuffered mode resets libedit's line and history position and draws the
            // prompt (what its readline emulation does after each line).
            _ = vce_set_unbuffered(editLine, 0)
            _ = vce_set_unbuffered(editLine, 1)
        }
    }

    /// libedit's line: the characters, and the cursor's index among them.
    private func currentLine() -> (characters: [Unicode.Scalar], cursor: Int) {
        guard let info = el_wline(editLine)?.pointee, let buffer = info.buffer, let last = info.lastchar else {
            return ([], 0)
        }
        let count = buffer.distance(to: last)
        let characters = (0..<count).map { Unicode.Scalar(UInt32(bitPattern: buffer[$0])) ?? "?" }
        let cursor = info.cursor.map { buffer.distance(to: $0) } ?? count
        return (characters, min(max(cursor, 0), count))
    }

    private func inputCursorRow() -> Int {
        let line = currentLine()
        let input = InputLayout(prompt: prompt.visible, line: line.characters, cursor: line.cursor, columns: columns)
        return min(input.cursorRow, max(rows - 1, 0))
    }

    // MARK: Reading (reader thread)

    /// The reader thread: el_wgets after el_wgets, one command each, with the lock held; libedit releases it only
    /// by waiting for input in readCharacter, i.e. whenever it is idle, which is when writers draw. Keys libedit
    /// pushes back itself (the Enter that ends a Ctrl-R search) are handled by the next call like typed ones.
    private func readLoop() {
        lock.lock()
        while !closeRequested.load(ordering: .acquiring) && !inputEnded {
            var count: Int32 = 0
            _ = el_wgets(editLine, &count)
            if inputEnded || closeRequested.load(ordering: .acquiring) { break }
            let line = currentLine()
            if let last = line.characters.last, last == "\n" {
                entered(Array(line.characters.dropLast()))
            } else if line.characters == ["\u{04}"] {
                break  // Ctrl-D at an empty line: libedit's end of file
            }
            if let warning = historyWarning {
                historyWarning = nil
                lock.unlock()
                Log.warning(warning)  // without the lock: Log comes back through Console's sink
                lock.lock()
            }
        }
        lock.unlock()
        finishUp()
    }

    /// Enter: keep the line on screen as "<prompt><line>" above the partial row, start a new line, remember it.
    private func entered(_ characters: [Unicode.Scalar]) {
        let text = String(String.UnicodeScalarView(characters))
        // libedit has moved below the input (a newline after its last row): erase from the partial row down.
        let input = InputLayout(prompt: prompt.visible, line: characters, cursor: characters.count, columns: columns)
        let up = min(input.lastRow + 1, max(rows - 1, 0)) + (partialRowShown ? 1 : 0)
        let erase = "\u{1B}[\(up)A\r\u{1B}[J"
        let isBlank = text.allSatisfy(\.isWhitespace)
        draw(erase, isBlank ? [] : [prompt.shown + text], then: .newLine)
        if !isBlank, let history {
            _ = vce_history_enter(history, text)
            saveHistory()
        }
        continuation.yield(text)
    }

    /// Rewrites the history file atomically (libedit's H_SAVE to a temporary file, then rename).
    private func saveHistory() {
        guard let historyFile, let history else { return }
        let directory = historyFile.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(historyFile.lastPathComponent).\(getpid()).tmp")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            historyWarning = "cannot create \(directory.path) for the history file: \(error.localizedDescription)"
            return
        }
        guard vce_history_save(history, temporary.path) >= 0, rename(temporary.path, historyFile.path) == 0 else {
            unlink(temporary.path)
            historyWarning = "cannot write the history file \(historyFile.path) (errno \(errno)); history is kept "
                + "for this session only"
            return
        }
    }

    /// EL_GETCFN: the next character for libedit, from the pending bytes (UTF-8). When they run out in the middle
    /// of a command (the rest of a key sequence, the key after Esc or Ctrl-V, a Ctrl-R search), waits for more
    /// with the lock released, so output keeps flowing: libedit has flushed its output and its display state is
    /// consistent whenever it asks for a character, so a writer's full redraw is safe then. Returns 0 (libedit's
    /// end of file) at the end of input or on close().
    fileprivate func readCharacter(into character: UnsafeMutablePointer<wchar_t>) -> Int32 {
        while true {
            if let scalar = decodePendingScalar() {
                character.pointee = wchar_t(bitPattern: scalar.value)
                return 1
            }
            pending.removeFirst(pendingStart)  // keeps an incomplete UTF-8 sequence for the bytes to come
            pendingStart = 0
            if inputEnded || closeRequested.load(ordering: .acquiring) { return 0 }
            lock.unlock()
            let more = Self.awaitInput(wakeRead: wakeRead)
            lock.lock()
            switch more {
            case .bytes(let bytes): pending.append(contentsOf: bytes)
            case .ended: inputEnded = true
            case .closing: return 0
            }
        }
    }

    /// The next complete scalar of `pending` (skipping invalid bytes), or nil if more bytes are needed.
    private func decodePendingScalar() -> Unicode.Scalar? {
        while pendingStart < pending.count {
            let lead = pending[pendingStart]
            let length: Int
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default:
                pendingStart += 1
                continue
            }
            guard pendingStart + length <= pending.count else { return nil }
            let bytes = pending[pendingStart..<(pendingStart + length)]
            var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> (length + 1))
            var isValid = true
            for byte in bytes.dropFirst() {
                if byte & 0xC0 != 0x80 { isValid = false }
                value = value << 6 | UInt32(byte & 0x3F)
            }
            guard isValid, let scalar = Unicode.Scalar(value) else {
                pendingStart += 1
                continue
            }
            pendingStart += length
            return scalar
        }
        return nil
    }

    private enum Input {
        case bytes([UInt8])
        case ended
        case closing
    }

    /// Waits for terminal bytes or a close request (any thread, no lock).
    private static func awaitInput(wakeRead: Int32) -> Input {
        while true {
            var fds = [
                pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                return .ended
            }
            if fds[1].revents != 0 { return .closing }
            if Int32(fds[0].revents) & Int32(POLLNVAL) != 0 { return .ended }
            guard fds[0].revents != 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(0, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .ended
            }
            return count == 0 ? .ended : .bytes(Array(buffer[0..<count]))
        }
    }

    // MARK: Teardown

    /// Runs once, on the reader thread (or in start() if it could not start): erase the input line, keep the
    /// partial row, restore the terminal, unhook, finish `lines`.
    private func finishUp() {
        lock.withLock {
            guard isActive else { return }
            let (erase, resized) = beginRedraw()
            var out = erase + resized.map { $0 + "\r\n" }.joined()
            if let row = layout.finishRow() {
                out += row + (row.contains("\u{1B}") ? "\u{1B}[0m" : "") + "\r\n"
            }
            fflush(editOutput)
            writeAll(1, out)
            isActive = false
            tearDownLibedit()
        }
        Console.setTerminalSink(nil)
        TerminalExitGuard.deactivate()
        for source in signalSources { source.cancel() }
        if var action = originalSuspendAction { sigaction(SIGTSTP, &action, nil) }
        continuation.finish()
        closeWakePipe()
        finished.leave()
    }

    private func closeWakePipe() {
        wakePipe.withLock { pipe in
            if let pipe {
                Glibc.close(pipe.read)
                Glibc.close(pipe.write)
            }
            pipe = nil
        }
    }

    /// el_end (which restores the terminal settings el_init found), history_end, and the duplicated streams.
    private func tearDownLibedit() {
        if let editLine { el_end(editLine) }
        editLine = nil
        if let history { history_end(history) }
        history = nil
        if let editInput { fclose(editInput) }
        editInput = nil
        if let editOutput { fclose(editOutput) }
        editOutput = nil
    }

    fileprivate var promptCString: UnsafeMutablePointer<CChar> { prompt.cString }

    // MARK: Terminal facts

    /// Columns and rows of standard output (80 × 24 if unknown).
    private static func windowSize() -> (columns: Int, rows: Int) {
        var columns: Int32 = 0
        var rows: Int32 = 0
        guard vce_window_size(1, &columns, &rows) == 0, columns > 0 else { return (80, 24) }
        return (Int(columns), rows > 0 ? Int(rows) : 24)
    }
}

// MARK: - Prompt

/// A prompt as libedit gets it (escape sequences between invisible markers) and as it takes columns.
private struct Prompt {
    /// libedit's EL_PROMPT_ESC marker around characters that take no columns.
    static let invisibleMarker: CChar = 1

    /// The visible characters (what takes columns).
    let visible: [Unicode.Scalar]
    /// The prompt as drawn (escape sequences kept, other control characters dropped).
    let shown: String
    /// For libedit; owned (freed when replaced).
    private let storage: CString

    var cString: UnsafeMutablePointer<CChar> { storage.pointer }

    init(_ text: String) {
        var visible: [Unicode.Scalar] = []
        var shown = ""
        var forLibedit = ""
        var layout = OutputLayout(columns: Int.max / 2)
        _ = layout.append(text)
        for cell in layout.partial {
            if cell.width == 0 {
                shown += cell.text
                forLibedit += "\u{1}" + cell.text + "\u{1}"
            } else {
                shown += cell.text
                forLibedit += cell.text
                visible.append(contentsOf: cell.text.unicodeScalars)
            }
        }
        self.visible = visible
        self.shown = shown + (shown.contains("\u{1B}") ? "\u{1B}[0m" : "")
        self.storage = CString(forLibedit)
    }
}

/// A strdup'd C string freed with its owner.
private final class CString {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ text: String) { pointer = strdup(text) }
    deinit { free(pointer) }
}

// MARK: - libedit callbacks

/// EL_PROMPT_ESC: the current prompt (called by libedit with the editor's lock held).
private let promptCallback: vce_prompt_fn = { editLine in
    guard let editLine, let data = vce_client_data(editLine) else { return emptyPrompt }
    return Unmanaged<EditorCore>.fromOpaque(data).takeUnretainedValue().promptCString
}

private nonisolated(unsafe) let emptyPrompt: UnsafeMutablePointer<CChar> = strdup("")

/// EL_GETCFN: the next character (called by libedit with the editor's lock held, on the reader thread).
private let readCharacterCallback: vce_getc_fn = { editLine, character in
    guard let editLine, let character, let data = vce_client_data(editLine) else { return -1 }
    return Unmanaged<EditorCore>.fromOpaque(data).takeUnretainedValue().readCharacter(into: character)
}

// MARK: - Restoring the terminal at exit

/// The terminal settings to put back if the process exits (exit(), a second Ctrl-C) while an editor is open.
private enum TerminalExitGuard {
    private static let original = Mutex<termios?>(nil)
    private static let isRegistered = Atomic<Bool>(false)

    /// Records `settings` for restoring at exit; false if an editor is already active.
    static func activate(restoring settings: termios) -> Bool {
        if !isRegistered.exchange(true, ordering: .relaxed) {
            atexit { TerminalExitGuard.restore() }
        }
        return original.withLock { current in
            guard current == nil else { return false }
            current = settings
            return true
        }
    }

    /// The editor closed normally.
    static func deactivate() {
        original.withLock { $0 = nil }
    }

    private static func restore() {
        guard var settings = original.withLock({ $0 }) else { return }
        _ = tcsetattr(0, TCSANOW, &settings)
        writeAll(1, "\r\n")
    }
}

/// Writes all of `text` to `fd` (retrying on EINTR and short writes), bypassing Console and its sink.
private func writeAll(_ fd: Int32, _ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }
}
