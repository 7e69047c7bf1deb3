/*-------------------------------------------------------------------------
 *
 * backup.c
 *	  pg_dump and the catalog: a dump made by a role that row-level security
 *	  limits would silently miss other roles' datastores and scripts, so
 *	  such a COPY of a catalog table (or pg_dump's cursor over one, with
 *	  --inserts) is refused with the supported way.
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
 * Does row-level security hide some rows of relid, a table of the
 * extension, from the current role?
 */
static bool
rls_limited_catalog(Oid relid)
{
	Oid			ext = get_extension_oid("oml_store", true);

	return OidIsValid(relid) && OidIsValid(ext) &&
		getExtensionOfObject(RelationRelationId, relid) == ext &&
		check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED;
}

/*
 * Is this session pg_dump's?  Its application_name, unless PGAPPNAME or the
 * connection string set another one, and in any case the empty search_path
 * that pg_dump sets for its whole session.
 */
static bool
session_is_pg_dump(void)
{
	const char *appname = GetConfigOption("application_name", false, false);
	const char *search_path = GetConfigOption("search_path", false, false);

	return (appname != NULL && strcmp(appname, "pg_dump") == 0) ||
		(search_path != NULL && search_path[0] == '\0');
}

/*
 * The error for a dump that row-level security would cut.
 */
static void
report_incomplete_dump(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" cannot dump all rows of oml.%s",
					GetUserNameFromId(GetUserId(), false),
					get_rel_name(relid)),
			 errdetail("Row-level security hides other roles' datastores and scripts from this role, so the dump would be incomplete."),
			 errhint("Run pg_dump as a superuser: that is the supported way to back up oml_store.")));
}

/*
 * Called by the ProcessUtility hook for COPY oml.something TO ...
 */
void
oml_backup_check_copy(CopyStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	bool		row_security_on;

	if (!rls_limited_catalog(relid))
		return;					/* this role reads every row */
	row_security_on = strcmp(GetConfigOption("row_security", false, false), "on") == 0;
	if (row_security_on && !session_is_pg_dump())
		return;					/* an ordinary COPY of what one may read */
	report_incomplete_dump(relid);
}

/*
 * Called by the ProcessUtility hook for DECLARE CURSOR: pg_dump --inserts
 * (and --column-inserts) reads tables through a cursor, not COPY.
 */
void
oml_backup_check_cursor(DeclareCursorStmt *stmt)
{
	Query	   *query = (Query *) stmt->query;
	ListCell   *lc;

	if (query == NULL || !IsA(query, Query) || !session_is_pg_dump())
		return;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && rls_limited_catalog(rte->relid))
			report_incomplete_dump(rte->relid);
	}
}
