-- oml_store 0.2.0 -> 0.3.0: async jobs and parallel execution, the model
-- and script registry, performance, sandboxed Python.
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql, then
-- oml_store--0.1.0--0.2.0.sql, then this file, so everything added here is
-- part of every 0.3.0 schema.  Objects are schema-qualified; the
-- extension's search_path is pg_catalog, pg_temp.  Each topic appends its
-- own section below, with a comment header naming it.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Parallel execution (issue 10, part 2): oml_parallel_flag and
-- oml_parallel_degree in par_lst run pyqRowEval, pyqGroupEval and
-- pyqIndexEval in PostgreSQL parallel workers (src/parallel.c).  No SQL
-- object changes: the controls are parsed by the existing functions.
-- ---------------------------------------------------------------------------
