-- oml_store 0.1.0 -> 0.2.0: security and robustness (trust decided in C,
-- caches, roles like native objects, backups).
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql and then this file, so
-- everything added here is part of every 0.2.0 schema.  Objects are
-- schema-qualified; the extension's search_path is pg_catalog, pg_temp.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit
