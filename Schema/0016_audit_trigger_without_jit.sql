-- 0016: the audit chain's dataset trigger (0010) is never JIT-compiled.
--
-- audit_event_link_datasets runs one INSERT … SELECT over the statement's inserted rows. PL/pgSQL plans
-- it once per connection and keeps the plan, costed for the transition table the first statement on that
-- connection inserted: after a bulk load (a demo registry's 52,546 entries in one COPY, an import), the
-- plan's cost passes jit_above_cost, and PostgreSQL then compiles it with LLVM at *every* execution —
-- about 240 ms for each later one-row entry (every command, every usage group commit), where the entry
-- takes 0.3 ms without it (measured on this machine; Benchmarks/RESULTS.md, "Issue 18: a usage batch's
-- audit entry compiled by LLVM"). The statement is small whatever the plan says: JIT never pays here.
ALTER FUNCTION audit_event_link_datasets() SET jit = off;
