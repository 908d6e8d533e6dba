public import Foundation

/// Runs `python3` for a test, off Swift's cooperative thread pool.
///
/// Tests run in parallel in one process, whose cooperative pool has as many threads as the machine has
/// cores (two here). Waiting for a child process on one of them (`waitUntilExit`,
/// `readDataToEndOfFile`) takes that thread from every other test — and from the HTTP servers they
/// run — for as long as Python takes (seconds to import rdflib), which under a full run made unrelated
/// requests wait seconds. Here the whole exchange runs on a thread of its own.
public enum PythonProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: Data
        public var errors: Data
        public var outputText: String { String(decoding: output, as: UTF8.self) }
        public var errorText: String { String(decoding: errors, as: UTF8.self) }
    }

    /// `python3 arguments…` with `input` on its standard input (closed after it), waited for.
    /// - Throws: when python3 cannot be started.
    public static func run(_ arguments: [String], input: Data? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    continuation.resume(returning: try runBlocking(arguments, input: input))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// ``run(_:input:)`` on the calling thread: only where nothing can be awaited (a static value made
    /// once per test process), never from a test's own async code.
    public static func runBlocking(_ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Standard error is drained on a second thread, so that neither pipe can fill while the other is read.
        let errors = ErrorsReader(stderr.fileHandleForReading)
        if let input {
            // Each script here reads all its input before it writes much, so writing first cannot block both sides.
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: output, errors: errors.wait())
    }

    private final class ErrorsReader: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()

        init(_ handle: FileHandle) {
            Thread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }.start()
        }

        func wait() -> Data {
            done.wait()
            return data
        }
    }
}
