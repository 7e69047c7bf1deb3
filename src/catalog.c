/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Helpers for reading and writing the oml catalog tables through SPI:
 *	  running as the extension owner, argument checks and name locks.
 *
 * Callers check the caller's rights first, then enter the owner's context
 * to write.  Errors need no cleanup here: transaction (or subtransaction)
 * abort restores the user id, security context and GUC nest level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "oml_store.h"

PG_MODULE_MAGIC;

/*
 * The role that owns the catalog tables: the one that created the extension.
 */
Oid
oml_catalog_owner(void)
{
	Oid			nsp = get_namespace_oid("oml", false);
	Oid			relid = get_relname_relid("datastore", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "oml_store catalog table oml.datastore is missing");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Connect to SPI with a safe search_path, optionally as the catalog owner.
 */
void
oml_enter(OmlContext *ctx, bool as_owner)
{
	GetUserIdAndSecContext(&ctx->save_userid, &ctx->save_sec_context);
	ctx->switched = as_owner;
	if (as_owner)
		SetUserIdAndSecContext(oml_catalog_owner(),
							   ctx->save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	ctx->caller_cxt = CurrentMemoryContext;
	ctx->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Undo oml_enter on the success path.
 */
void
oml_leave(OmlContext *ctx)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	AtEOXact_GUC(false, ctx->save_nestlevel);
	if (ctx->switched)
		SetUserIdAndSecContext(ctx->save_userid, ctx->save_sec_context);
}

/*
 * Prepared plans of the statements run through oml_spi, kept for the life
 * of the backend (the plan cache re-plans them when the catalog changes).
 */
#define OML_PLAN_CACHE_SIZE 64
static struct
{
	char	   *sql;
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	SPIPlanPtr	plan;
}			plan_cache[OML_PLAN_CACHE_SIZE];
static int	plan_cache_used = 0;

/*
 * The saved plan for sql with these argument types, prepared on first use.
 */
static SPIPlanPtr
cached_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	for (int i = 0; i < plan_cache_used; i++)
	{
		if (plan_cache[i].nargs == nargs &&
			strcmp(plan_cache[i].sql, sql) == 0 &&
			memcmp(plan_cache[i].argtypes, argtypes, sizeof(Oid) * nargs) == 0)
			return plan_cache[i].plan;
	}
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (plan_cache_used >= OML_PLAN_CACHE_SIZE || nargs > FUNC_MAX_ARGS)
		return plan;			/* used once, freed with the SPI context */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	plan_cache[plan_cache_used].sql = MemoryContextStrdup(TopMemoryContext, sql);
	plan_cache[plan_cache_used].nargs = nargs;
	memcpy(plan_cache[plan_cache_used].argtypes, argtypes, sizeof(Oid) * nargs);
	plan_cache[plan_cache_used].plan = plan;
	plan_cache_used++;
	return plan;
}

/*
 * Run one statement; returns SPI_processed.  expected >= 0 insists on that
 * many rows (a can't-happen check for statements that must hit one row).
 * Plans are prepared once per backend.
 */
int
oml_spi(const char *sql, bool read_only, int nargs, Oid *argtypes,
		Datum *values, const char *nulls, int expected)
{
	int			rc;

	rc = SPI_execute_plan(cached_plan(sql, nargs, argtypes), values, nulls,
						  read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%d): %s", rc, sql);
	if (expected >= 0 && SPI_processed != (uint64) expected)
		elog(ERROR, "expected %d rows, got " UINT64_FORMAT ": %s",
			 expected, SPI_processed, sql);
	return (int) SPI_processed;
}

/*
 * One value of the last SPI result (row and column from 0).
 */
Datum
oml_spi_value(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col + 1, isnull);
}

/*
 * Copy every row of the last SPI result into the set-returning function's
 * tuplestore.  The query's columns must match the function's.
 */
void
oml_spi_to_tuplestore(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc = rsinfo->setDesc;
	int			natts = desc->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		for (int c = 0; c < natts; c++)
			values[c] = oml_spi_value(r, c, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
	}
}

/*
 * Run a listing query (ds_dir, script_dir) as the caller, so row-level
 * security decides what shows, and return its rows from the set-returning
 * function.  The query takes $1, the caller's oid, and $2, the name or
 * pattern to match (NULL for all).
 */
void
oml_list_as_caller(FunctionCallInfo fcinfo, const char *sql, const char *name)
{
	OmlContext	ctx;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	InitMaterializedSRF(fcinfo, 0);
	values[0] = ObjectIdGetDatum(GetUserId());
	if (name)
		values[1] = CStringGetTextDatum(name);
	else
		nulls[1] = 'n';
	oml_enter(&ctx, false);
	oml_spi(sql, true, 2, argtypes, values, nulls, -1);
	oml_spi_to_tuplestore(fcinfo);
	oml_leave(&ctx);
}

/*
 * A text argument as a C string, or NULL when the argument is NULL.
 */
char *
oml_arg_text(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * Check a name argument (datastore, object or script) and return it.
 *
 * A name is 1 to OML_NAME_MAXLEN characters with no control characters and
 * no leading or trailing white space.
 */
char *
oml_check_name(const char *what, FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	int			len;
	const unsigned char *p;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", what)));
	name = oml_arg_text(fcinfo, argno);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name must not be empty", what)));
	len = pg_mbstrlen(name);
	if (len > OML_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name is too long", what),
				 errdetail("Names are at most %d characters; this one has %d.",
						   OML_NAME_MAXLEN, len)));
	for (p = (const unsigned char *) name; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("%s name \"%s\" contains a control character",
							what, name),
					 errdetail("Names may not contain tabs, newlines or other control characters.")));
	}
	if (name[0] == ' ' || name[strlen(name) - 1] == ' ')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name \"%s\" begins or ends with a space", what, name)));
	return name;
}

/*
 * A regular expression argument: anything but NULL or empty (an empty
 * pattern would match every name).
 */
char *
oml_check_pattern(FunctionCallInfo fcinfo, int argno)
{
	char	   *pattern;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("regular expression must not be null")));
	pattern = oml_arg_text(fcinfo, argno);
	if (pattern[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("regular expression must not be empty"),
				 errhint("Use \".*\" to match every name.")));
	return pattern;
}

/*
 * Which of choices (a NULL-terminated list of lower-case words) a text
 * argument names, case-insensitively; its position in the list.
 */
int
oml_check_choice(const char *what, FunctionCallInfo fcinfo, int argno,
				 const char *const *choices)
{
	char	   *given;
	StringInfoData list;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	given = oml_arg_text(fcinfo, argno);
	initStringInfo(&list);
	for (int i = 0; choices[i]; i++)
	{
		if (pg_strcasecmp(given, choices[i]) == 0)
			return i;
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", choices[i]);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown %s \"%s\"", what, given),
			 errhint("Use one of %s.", list.data)));
	return -1;					/* keep compiler quiet */
}

/*
 * A boolean argument that must not be NULL.
 */
bool
oml_check_bool(const char *what, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_BOOL(argno);
}

/*
 * The role named by an owner argument; NULL means the current role.
 */
Oid
oml_resolve_owner(FunctionCallInfo fcinfo, int argno)
{
	char	   *rolname;

	if (PG_ARGISNULL(argno))
		return GetUserId();
	rolname = oml_arg_text(fcinfo, argno);
	if (rolname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("owner name must not be empty"),
				 errhint("Pass NULL for the current role.")));
	return get_role_oid(rolname, false);
}

/*
 * Serialise writers of one named object of one owner until transaction end.
 *
 * Two sessions saving the same new datastore otherwise both find it missing;
 * with this lock the second waits, then sees the first one's datastore.
 */
void
oml_lock_name(int kind, Oid owner, const char *name)
{
	LOCKTAG		tag;
	uint32		h;

	h = DatumGetUInt32(hash_any((const unsigned char *) name, strlen(name)));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, owner, h, OML_LOCK_CLASS + kind);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}
