private import CLibPQ

extension PostgresConnection {
    /// Runs one statement many times with different bind parameters in libpq pipeline mode: the
    /// statement is prepared once, then every execution is sent without waiting for the previous one,
    /// with a sync point every `syncEvery` statements. Returns the total number of affected rows.
    ///
    /// Outside a transaction each sync point commits the statements before it; inside
    /// ``withTransaction(isolation:retry:_:)`` everything commits or rolls back together. The first
    /// failing statement's error is thrown after the pipeline has been drained.
    ///
    /// At most two sync batches are in flight, so that neither side's socket buffer fills while the
    /// other waits (this connection blocks).
    @discardableResult
    public func executePipelined(
        _ sql: String, rows: some Sequence<PostgresBindings>, syncEvery: Int = 1_000
    ) throws -> Int {
        precondition(syncEvery > 0, "syncEvery must be positive")
        var iterator = rows.makeIterator()
        guard let first = iterator.next() else { return 0 }
        let name = try preparedStatementName(for: sql, types: first.binds.map(\.type))

        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(kind: .protocolViolation, message: "could not enter pipeline mode: \(Self.trimmed(PQerrorMessage(handle)))")
        }
        var state = PipelineState()
        var pending: PostgresBindings? = first
        var sendFailure: PostgresError?
        while let bindings = pending {
            let sent = Self.withParameterArrays(bindings) { count, _, values, lengths, formats in
                PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1)
            }
            if sent != 1 {
                sendFailure = connectionError(context: "pipelined send")
                break
            }
            state.inCurrentBatch += 1
            if state.inCurrentBatch == syncEvery {
                sendFailure = sync(&state)
                while sendFailure == nil && state.batchesInFlight >= 2 {
                    sendFailure = readBatch(&state)
                }
                if sendFailure != nil { break }
            }
            pending = iterator.next()
        }
        if sendFailure == nil && state.inCurrentBatch > 0 {
            sendFailure = sync(&state)
        }
        while sendFailure == nil && state.batchesInFlight > 0 {
            sendFailure = readBatch(&state)
        }
        // After a send or connection failure the connection is unusable and the pool discards it.
        if sendFailure == nil { _ = PQexitPipelineMode(handle) }
        if let failure = sendFailure ?? state.firstError { throw failure }
        return state.affectedRows
    }

    /// Runs different statements, each with its own bind parameters, in libpq pipeline mode: all are
    /// sent, then one sync point, so that they cost one round trip together instead of one each. Returns
    /// each statement's result, in order. Inside ``withTransaction(isolation:retry:_:)`` they commit or
    /// roll back with it; outside one, the sync point commits them together.
    ///
    /// The first failing statement's error is thrown once the pipeline has been drained (PostgreSQL
    /// skips the statements after it). Meant for a handful of statements whose parameters fit the
    /// socket buffers (tens of kilobytes): they are all sent before any result is read.
    @discardableResult
    public func queryPipelined(_ queries: [PostgresQuery]) throws -> [PostgresResult] {
        guard !queries.isEmpty else { return [] }
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(kind: .protocolViolation, message: "could not enter pipeline mode: \(Self.trimmed(PQerrorMessage(handle)))")
        }
        for query in queries {
            let sent = Self.withParameterArrays(query.bindings) { count, types, values, lengths, formats in
                PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
            }
            // After a send failure the connection is unusable and the pool discards it.
            guard sent == 1 else { throw connectionError(context: "pipelined send") }
        }
        guard PQpipelineSync(handle) == 1 else { throw connectionError(context: "pipeline sync") }
        var results: [PostgresResult] = []
        results.reserveCapacity(queries.count)
        var firstError: PostgresError?
        while true {
            guard let result = PQgetResult(handle) else {
                // NULL ends one statement's results; only a broken connection ends here.
                if isBroken { throw connectionError(context: "pipeline results") }
                continue
            }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(result)
                break
            } else if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
                results.append(PostgresResult(taking: result))
            } else {
                if status != PGRES_PIPELINE_ABORTED, firstError == nil {
                    firstError = makeError(result, context: queries[min(results.count, queries.count - 1)].sql)
                }
                PQclear(result)
            }
        }
        _ = PQexitPipelineMode(handle)
        if let firstError { throw firstError }
        guard results.count == queries.count else {
            throw PostgresError(kind: .protocolViolation, message: "a pipeline of \(queries.count) statements returned \(results.count) results")
        }
        return results
    }

    private struct PipelineState {
        var inCurrentBatch = 0
        var batchesInFlight = 0
        var affectedRows = 0
        var firstError: PostgresError?
    }

    /// Ends the current batch with a sync point.
    private func sync(_ state: inout PipelineState) -> PostgresError? {
        guard PQpipelineSync(handle) == 1 else { return connectionError(context: "pipeline sync") }
        state.inCurrentBatch = 0
        state.batchesInFlight += 1
        return nil
    }

    /// Reads the results of the oldest batch up to and including its sync point.
    private func readBatch(_ state: inout PipelineState) -> PostgresError? {
        while true {
            guard let result = PQgetResult(handle) else {
                // NULL separates one statement's results from the next; only a broken connection ends here.
                if isBroken { return connectionError(context: "pipeline results") }
                continue
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                state.batchesInFlight -= 1
                return nil
            } else if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
                if let text = PQcmdTuples(result) { state.affectedRows += Int(String(cString: text)) ?? 0 }
            } else if status == PGRES_PIPELINE_ABORTED {
                continue
            } else if state.firstError == nil {
                state.firstError = makeError(result, context: "pipelined statement")
            }
        }
    }
}
