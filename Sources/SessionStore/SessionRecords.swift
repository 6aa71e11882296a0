// The values a session store reads and writes besides text memory entries: the session's metadata, its runs (one
// per open for writing, with the media time offset that makes media time continue), the saved synopsis, standing
// questions, and the summary `listSessions` gives for each session folder.

import Foundation
import Memory

/// What a session is: its name, source, model, settings and progress.
public struct SessionMetadata: Sendable, Equatable {
    /// The session's name (its folder's name).
    public var name: String
    /// The source it watches (a URL or path), when known.
    public var source: String?
    /// The model it runs, when known.
    public var model: String?
    /// The caller's settings as JSON object text (`{}` by default); the store checks only that it is an object.
    public var settingsJSON: String
    /// When the session was created (whole milliseconds).
    public var createdAt: Date
    /// The last write to the session (whole milliseconds).
    public var updatedAt: Date
    /// The newest frame number the session recorded (synopsis saves and `recordProgress`).
    public var lastFrame: Int?
    /// The newest media time the session recorded (frames, captions, synopsis saves), seconds.
    public var lastMediaTime: Double?

    /// Metadata of a new session.
    public init(
        name: String, source: String? = nil, model: String? = nil, settingsJSON: String = "{}",
        createdAt: Date = Date(), updatedAt: Date? = nil, lastFrame: Int? = nil, lastMediaTime: Double? = nil
    ) {
        self.name = name
        self.source = source
        self.model = model
        self.settingsJSON = settingsJSON
        self.createdAt = Milliseconds.rounded(createdAt)
        self.updatedAt = Milliseconds.rounded(updatedAt ?? createdAt)
        self.lastFrame = lastFrame
        self.lastMediaTime = lastMediaTime
    }
}

/// One run of a session: the process that opened it for writing, from `startedAt`.
public struct SessionRun: Sendable, Equatable {
    /// 1 for the first run, then 2, 3, …
    public var number: Int
    /// Wall-clock time the run started (whole milliseconds).
    public var startedAt: Date
    /// Added to the source's own media time (which restarts at 0) to give the session's media time.
    public var mediaTimeOffset: Double
    /// The session frame number of the run's first frame.
    public var firstFrame: Int
    /// When the run closed the session cleanly (nil: still running, or killed).
    public var endedAt: Date?

    /// The wall-clock time of session media time `mediaTime` in this run (its start plus the elapsed media time).
    public func wallClock(atMediaTime mediaTime: Double) -> Date {
        startedAt.addingTimeInterval(mediaTime - mediaTimeOffset)
    }
}

/// The saved synopsis and the newest frame it covers.
public struct SavedSynopsis: Sendable, Equatable {
    /// The state, for `FeatureMemory(configuration:restoring:)`.
    public var state: SynopsisState
    /// The newest frame number the state covers (nil for an empty synopsis).
    public var lastFrame: Int?
    /// That frame's media time.
    public var lastMediaTime: Double?
    /// When it was saved (whole milliseconds).
    public var savedAt: Date
}

/// A question that waits for something to happen (brief §6.5 step 7).
public struct StandingQuestion: Sendable, Equatable, Identifiable {
    /// Where a standing question is in its life.
    public enum State: String, Sendable, CaseIterable {
        /// Polled every `pollInterval` seconds of media.
        case active
        /// Answered "yes" once; `firedAt`, `firedMediaTime` and `answer` are set.
        case fired
        /// Withdrawn by the user.
        case cancelled
    }

    /// The store's id (increasing, never reused).
    public var id: Int64
    /// The question as asked.
    public var text: String
    /// When it was asked (whole milliseconds).
    public var createdAt: Date
    /// The session media time it was asked at.
    public var createdMediaTime: Double?
    /// Media seconds between polls.
    public var pollInterval: Double
    /// Its state.
    public var state: State
    /// When it fired (wall clock, whole milliseconds).
    public var firedAt: Date?
    /// The session media time it fired at.
    public var firedMediaTime: Double?
    /// The answer it fired with.
    public var answer: String?
}

/// One session folder as `listSessions` sees it: its metadata and counts, or why it cannot be read.
public struct SessionSummary: Sendable, Equatable {
    /// The session's name.
    public var name: String
    /// Its folder.
    public var directory: String
    /// Its metadata (nil when the database cannot be read; see `problem`).
    public var metadata: SessionMetadata?
    /// Text memory entries per level.
    public var entryCounts: [TextMemoryEntry.Level: Int]
    /// Standing questions per state.
    public var questionCounts: [StandingQuestion.State: Int]
    /// Runs so far.
    public var runCount: Int
    /// Bytes of every file in the folder (database, bank, index).
    public var bytes: Int64
    /// True when another process has the session open.
    public var isInUse: Bool
    /// Why the database cannot be read (the error's description), nil when it can.
    public var problem: String?
}

/// Whole milliseconds since 1970, the store's form of wall-clock times.
enum Milliseconds {
    /// `date` as whole milliseconds since 1970 (rounded).
    static func of(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// The date `milliseconds` after 1970.
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// `date` rounded to whole milliseconds.
    static func rounded(_ date: Date) -> Date { self.date(of(date)) }
}
