/*-------------------------------------------------------------------------
 *
 * script.c
 *	  The script repository: pyqScriptCreate, pyqScriptDrop, listing and
 *	  loading scripts (finding the script a pyq* call runs is in
 *	  script_cache.c).
 *
 * Only trusted roles (superusers and members of oml_developer) create
 * scripts.  Private scripts belong to their creator and can be granted;
 * global scripts share one namespace and everyone may read and run them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_pyq_script_create);
PG_FUNCTION_INFO_V1(oml_pyq_script_drop);
PG_FUNCTION_INFO_V1(oml_script_dir);
PG_FUNCTION_INFO_V1(oml_script_load);

/*
 * Largest script source we accept, in bytes.  Python's parser needs some
 * hundred times the source's size in memory and cannot be cancelled while
 * it runs (16 MB of source took 40 s and 7 GB), so keep this small: a
 * script is the source of one function, its data belong elsewhere.
 */
#define OML_SCRIPT_MAXLEN (1024 * 1024)

/*
 * Refuse untrusted callers: creating a script is writing code that the
 * server will run.
 */
static void
require_trusted(const char *action)
{
	if (!oml_role_is_trusted(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail("Scripts run as Python code inside the server."),
				 errhint("Ask a superuser for membership in role oml_developer.")));
}

/*
 * Compile source in the embedded interpreter and check it holds exactly
 * one function; report a problem with its line number.
 */
static void
check_source(const char *name, const char *source)
{
	PyObject   *res;

	oml_py_enter(CurrentMemoryContext);
	res = oml_py_runtime_call("check_script",
							  Py_BuildValue("(ss)", name, source));
	if (res != Py_None)
	{
		const char *msg = NULL;
		int			lineno = 0;
		const char *line = NULL;

		if (!PyArg_ParseTuple(res, "siz", &msg, &lineno, &line))
		{
			Py_DECREF(res);
			oml_py_raise(name);
		}
		msg = pstrdup(msg);
		line = line ? pstrdup(line) : NULL;
		Py_DECREF(res);
		/* Line 0: a problem of the whole source, such as deep nesting. */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 lineno > 0 ?
				 errmsg("invalid script \"%s\": %s at line %d", name, msg, lineno) :
				 errmsg("invalid script \"%s\": %s", name, msg),
				 line && lineno > 0 ? errdetail("Line %d: %s", lineno, line) : 0,
				 errhint("A script is the source of one Python function, e.g. \"def f(x):\\n    return x\".")));
	}
	Py_DECREF(res);
}

/*
 * SQL oml.pyqScriptCreate(v_name, v_script, v_global, v_overwrite,
 * v_description, v_sandbox).
 */
Datum
oml_pyq_script_create(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("script", fcinfo, 0);
	char	   *source;
	bool		is_global = oml_check_bool("v_global", fcinfo, 2);
	bool		overwrite = oml_check_bool("v_overwrite", fcinfo, 3);
	bool		with_flag = PG_NARGS() > 5; /* not the 0.1.0 signature */
	bool		sandbox = with_flag && oml_check_bool("v_sandbox", fcinfo, 5);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[6] = {OIDOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	if (!oml_role_is_trusted(caller) && oml_sandbox_may_create(caller))
	{
		/* Members of oml_sandbox_user: private sandboxed scripts only. */
		if (!sandbox)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to create scripts that run inside the server"),
					 errdetail("Members of oml_sandbox_user create sandboxed scripts only."),
					 errhint("Pass v_sandbox => true.")));
		if (is_global)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to create global scripts"),
					 errdetail("A global script is found by name by every role, which would then run code of a role it does not trust with its own rights; members of oml_sandbox_user create private scripts and grant them."),
					 errhint("Create a private script and share it with oml.pyqGrant.")));
	}
	else
		require_trusted("create scripts");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("script source must not be null")));
	source = oml_arg_text(fcinfo, 1);
	if (strlen(source) > OML_SCRIPT_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("script source is too long"),
				 errdetail("Scripts are at most %d bytes.", OML_SCRIPT_MAXLEN),
				 errhint("Pass data through par_lst, inp_nam or a datastore rather than in the source.")));
	check_source(name, source);

	oml_lock_name(OML_LOCK_SCRIPT, is_global ? InvalidOid : caller, name);
	oml_enter(&ctx, true);
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(is_global);
	values[3] = CStringGetTextDatum(source);
	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	else
		values[4] = PG_GETARG_DATUM(4);
	values[5] = BoolGetDatum(sandbox);

	if (oml_spi(is_global ?
				"SELECT id, owner FROM oml.script WHERE name = $2 AND is_global AND $3 FOR UPDATE" :
				"SELECT id, owner FROM oml.script WHERE owner = $1 AND name = $2 AND NOT is_global AND NOT $3 FOR UPDATE",
				false, 3, argtypes, values, nulls, -1) > 0)
	{
		Oid			owner = DatumGetObjectId(oml_spi_value(0, 1, &isnull));
		Oid			uptypes[6] = {INT8OID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, BOOLOID};

		if (!overwrite)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s script \"%s\" already exists",
							is_global ? "global" : "private", name),
					 errhint("Pass v_overwrite => true to replace it.")));
		if (owner != caller && !superuser_arg(caller))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to replace global script \"%s\"", name),
					 errdetail("Only its creator or a superuser can replace it.")));
		values[0] = oml_spi_value(0, 0, &isnull);
		oml_spi(with_flag ?
				"UPDATE oml.script SET source = $4, description = $5,"
				" sandbox = $6, created = now() WHERE id = $1" :
				"UPDATE oml.script SET source = $4, description = $5,"
				" created = now() WHERE id = $1",
				false, with_flag ? 6 : 5, uptypes, values, nulls, 1);
		/* The previous source stays as a version (registry.c). */
		if (oml_registry_available())
			(void) oml_script_add_version(DatumGetInt64(values[0]), false, caller,
										  values[3], values[4], nulls[4] == 'n');
	}
	else
	{
		oml_script_check_new_name(name);
		if (oml_spi(with_flag ?
					"INSERT INTO oml.script (id, owner, name, is_global, source, description, sandbox)"
					" VALUES (nextval('oml.script_id_seq'), $1, $2, $3, $4, $5, $6)"
					" ON CONFLICT DO NOTHING RETURNING id" :
					"INSERT INTO oml.script (id, owner, name, is_global, source, description)"
					" VALUES (nextval('oml.script_id_seq'), $1, $2, $3, $4, $5)"
					" ON CONFLICT DO NOTHING RETURNING id",
					false, with_flag ? 6 : 5, argtypes, values, nulls, -1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("Another session created script \"%s\" after this transaction's snapshot was taken.",
							   name)));
		if (oml_registry_available())
			(void) oml_script_add_version(DatumGetInt64(oml_spi_value(0, 0, &isnull)),
										  true, caller, values[3], values[4],
										  nulls[4] == 'n');
	}
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * SQL oml.pyqScriptDrop(v_name, v_global, v_silent).
 */
Datum
oml_pyq_script_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("script", fcinfo, 0);
	bool		is_global = oml_check_bool("v_global", fcinfo, 1);
	bool		silent = oml_check_bool("v_silent", fcinfo, 2);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[3] = {OIDOID, TEXTOID, BOOLOID};
	Datum		values[3];
	bool		isnull;

	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(is_global);

	/*
	 * The name lock of a global script is its creator's: any role may call
	 * this, and one that held the lock (after a silent drop of a name not
	 * yet used, in a transaction it keeps open) would stall the creation of
	 * that script.  So look first, without it.
	 */
	if (is_global)
	{
		oml_enter(&ctx, true);
		if (oml_spi("SELECT owner FROM oml.script WHERE name = $2 AND is_global AND $3",
					false, 3, argtypes, values, NULL, -1) == 0)
		{
			oml_leave(&ctx);
			if (silent)
				PG_RETURN_VOID();
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("global script \"%s\" does not exist", name)));
		}
		if (DatumGetObjectId(oml_spi_value(0, 0, &isnull)) != caller &&
			!superuser_arg(caller))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to drop global script \"%s\"", name),
					 errdetail("Only its creator or a superuser can drop it.")));
		oml_leave(&ctx);
	}

	oml_lock_name(OML_LOCK_SCRIPT, is_global ? InvalidOid : caller, name);
	oml_enter(&ctx, true);
	if (oml_spi(is_global ?
				"SELECT id, owner FROM oml.script WHERE name = $2 AND is_global AND $3 FOR UPDATE" :
				"SELECT id, owner FROM oml.script WHERE owner = $1 AND name = $2 AND NOT is_global AND NOT $3 FOR UPDATE",
				false, 3, argtypes, values, NULL, -1) == 0)
	{
		oml_leave(&ctx);
		if (silent)
			PG_RETURN_VOID();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s script \"%s\" does not exist",
						is_global ? "global" : "private", name),
				 is_global ? 0 : errhint("Pass v_global => true to drop a global script.")));
	}
	if (DatumGetObjectId(oml_spi_value(0, 1, &isnull)) != caller &&
		!superuser_arg(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to drop global script \"%s\"", name),
				 errdetail("Only its creator or a superuser can drop it.")));
	{
		Oid			idtype[1] = {INT8OID};
		Datum		idval[1];

		idval[0] = oml_spi_value(0, 0, &isnull);
		oml_spi("DELETE FROM oml.script WHERE id = $1", false, 1, idtype, idval,
				NULL, 1);
	}
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * SQL oml.script_load(v_name, v_owner): a readable script's source.
 */
Datum
oml_script_load(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("script", fcinfo, 0);
	OmlScript	scr;

	if (!PG_ARGISNULL(1) && !oml_owner_is_global(oml_arg_text(fcinfo, 1)))
		(void) oml_resolve_owner(fcinfo, 1);	/* clear error for bad roles */
	oml_script_find(name, PG_ARGISNULL(1) ? NULL : oml_arg_text(fcinfo, 1), &scr);
	PG_RETURN_TEXT_P(cstring_to_text(scr.source));
}

/*
 * SQL oml.script_dir(v_name, regex_match, sctype): scripts as
 * oml.script.dir lists them, as the caller sees them.
 */
Datum
oml_script_dir(PG_FUNCTION_ARGS)
{
	static const char *const sctypes[] = {"user", "global", "all", "grant", NULL};
	static const char *const filters[] = {
		"s.owner = $1 AND NOT s.is_global",
		"s.is_global",
		"true",
		"s.owner = $1 AND NOT s.is_global",
	};
	bool		regex_match = oml_check_bool("regex_match", fcinfo, 1);
	int			kind = oml_check_choice("sctype", fcinfo, 2, sctypes);
	char	   *name = NULL;
	StringInfoData sql;

	if (!PG_ARGISNULL(0))
		name = regex_match ? oml_arg_text(fcinfo, 0) :
			oml_check_name("script", fcinfo, 0);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT * FROM (SELECT CASE WHEN s.is_global THEN 'PYQSYS'"
					 " ELSE pg_get_userbyid(s.owner)::text END AS owner,"
					 " s.name, s.source, s.description, s.created, %s AS grantee"
					 " FROM oml.script s%s WHERE %s AND ($2 IS NULL OR s.name %s $2)) q"
					 " ORDER BY %s",
					 kind == 3 ? "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END" : "NULL::text",
					 kind == 3 ? ", LATERAL aclexplode(s.acl) a" : "",
					 filters[kind],
					 regex_match ? "~" : "=",
					 kind == 3 ? "name COLLATE \"C\", grantee COLLATE \"C\"" :
					 kind == 2 ? "owner COLLATE \"C\", name COLLATE \"C\"" :
					 "name COLLATE \"C\"");

	oml_list_as_caller(fcinfo, sql.data, name);
	return (Datum) 0;
}
