/*-------------------------------------------------------------------------
 *
 * roles.h
 *	  Hooks of the oml_store library: roles like native objects (roles.c),
 *	  the pg_dump check (backup.c) and the schema version check (version.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OML_ROLES_H
#define OML_ROLES_H

#include "nodes/parsenodes.h"

/* roles.c: installs the ProcessUtility hook (called from _PG_init) */
extern void oml_roles_init(void);

/* backup.c: refuse a COPY of the catalog that row-level security would cut */
extern void oml_backup_check_copy(CopyStmt *stmt);
extern void oml_backup_check_cursor(DeclareCursorStmt *stmt);

/* version.c: refuse to run new code against an old schema */
extern void oml_require_schema_version(void);

#endif							/* OML_ROLES_H */
