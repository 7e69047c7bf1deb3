/*-------------------------------------------------------------------------
 *
 * backup.c
 *	  pg_dump and the catalog: a dump made by a role that row-level security
 *	  limits would silently miss other roles' datastores and scripts, so
 *	  such a COPY of a catalog table is refused with the supported way.
 *
 * pg_dump sets row_security = off, so PostgreSQL itself already fails the
 * COPY of a table with row-level security for such a role; this names the
 * way out, and also refuses pg_dump --enable-row-security, which would
 * otherwise produce an incomplete dump without a word.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

#include "oml_store.h"
#include "roles.h"

/*
 * Called by the ProcessUtility hook for COPY oml.something TO ...
 */
void
oml_backup_check_copy(CopyStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	const char *appname;
	const char *search_path;
	bool		row_security_on;
	bool		pg_dump;

	if (!OidIsValid(relid) ||
		getExtensionOfObject(RelationRelationId, relid) !=
		get_extension_oid("oml_store", true))
		return;
	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return;					/* this role reads every row */

	row_security_on = strcmp(GetConfigOption("row_security", false, false), "on") == 0;

	/*
	 * pg_dump: its application_name, unless PGAPPNAME or the connection
	 * string set another one, and in any case the empty search_path that
	 * pg_dump sets for its whole session.
	 */
	appname = GetConfigOption("application_name", false, false);
	search_path = GetConfigOption("search_path", false, false);
	pg_dump = (appname != NULL && strcmp(appname, "pg_dump") == 0) ||
		(search_path != NULL && search_path[0] == '\0');
	if (row_security_on && !pg_dump)
		return;					/* an ordinary COPY of what one may read */

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" cannot dump all rows of oml.%s",
					GetUserNameFromId(GetUserId(), false),
					stmt->relation->relname),
			 errdetail("Row-level security hides other roles' datastores and scripts from this role, so the dump would be incomplete."),
			 errhint("Run pg_dump as a superuser: that is the supported way to back up oml_store.")));
}
