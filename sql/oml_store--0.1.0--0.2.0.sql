-- oml_store 0.1.0 -> 0.2.0: security and robustness (trust decided in C,
-- caches, roles like native objects, backups).
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql and then this file, so
-- everything added here is part of every 0.2.0 schema.  Objects are
-- schema-qualified; the extension's search_path is pg_catalog, pg_temp.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Script cache (issue 7, items 2 and 3): the statement trigger that tells
-- every backend's script cache that oml.script changed fires also with
-- session_replication_role = replica (logical replication apply, a
-- superuser's direct DML), so no change can bypass it.
-- ---------------------------------------------------------------------------
ALTER TABLE oml.script ENABLE ALWAYS TRIGGER script_changed;
