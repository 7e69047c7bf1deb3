/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The script registry: versions and aliases of scripts, references of
 *	  the form name@version and name@alias, and the rule under which a
 *	  usage grant on a datastore lets a script load it.
 *
 * Every pyqScriptCreate of a script writes a new version (1, 2, 3, ...)
 * into oml.script_version; oml.script keeps the current source and its
 * number.  Versions are immutable: they are only added and dropped.  An
 * alias (oml.script_alias) names one version of one script and is moved by
 * an UPDATE, so a move is one transaction like any other change.
 *
 * References.  A script name may hold '@' in 0.2.0, so a reference
 * "a@b" first means the script named "a@b" if there is one (as before);
 * only when there is none is it split at its last '@' into the script "a"
 * and "b", a version number when it is all digits, else an alias.  New
 * scripts cannot take a name with '@' (see oml_script_check_new_name), so
 * the literal reading only ever applies to scripts made before 0.3.0.
 *
 * Usage grants.  pyqGrant(name, 'datastore', role, 'usage') gives role no
 * read right: row-level security, oml.ds_objects, oml.ds_read and the
 * client's ds.load all still refuse it.  The one reader that honours it is
 * the in-server loader (_oml.load_objects, pyload.c), and only while a
 * pyq* call of this backend runs the Python function of a script that the
 * caller cannot change -- its owner is neither the caller nor a role whose
 * privileges the caller has -- and whose owner may itself read the
 * datastore.  Both conditions are backend-local state set only by C code
 * (oml_registry_run_begin around the call of the script's function, and
 * oml_registry_load_begin around the loader), so SQL cannot fake them:
 * SQL functions the caller defines and runs inside the script (e.g. from
 * a query the script issues) reach only oml.ds_read, which ignores usage,
 * and a nested pyq* call of the caller's own script sets the innermost
 * running script to that one.  What the script does with the objects it
 * loaded (e.g. returns them) is its author's choice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_script_alias_set);
PG_FUNCTION_INFO_V1(oml_script_alias_drop);
PG_FUNCTION_INFO_V1(oml_script_version_drop);

/* oml_store.script_versions_max: versions kept per script, 0 for all. */
static int	script_versions_max = 0;

/* The owner of the script whose function runs now (InvalidOid: none). */
static Oid	running_script_owner = InvalidOid;

/* Is the in-server loader (pyload.c) reading now? */
static bool loading_in_script = false;

/*
 * Does this database's schema have the registry (0.3.0 on)?  A library
 * newer than the schema still creates and loads scripts there, without
 * versions, until ALTER EXTENSION oml_store UPDATE.
 */
bool
oml_registry_available(void)
{
	Oid			nsp = get_namespace_oid("oml", true);

	return OidIsValid(nsp) &&
		OidIsValid(get_relname_relid("script_version", nsp));
}

/*
 * Define the registry's settings; called from _PG_init.
 */
void
oml_registry_init(void)
{
	DefineCustomIntVariable("oml_store.script_versions_max",
							"Versions kept per script (0 keeps every one).",
							"An overwrite beyond this prunes the oldest versions; "
							"the current version and versions an alias names are always kept.",
							&script_versions_max,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	oml_dsversion_init();
}

/*
 * A pyq* call is about to run the function of a script of owner; returns
 * what to pass to oml_registry_run_end.
 */
Oid
oml_registry_run_begin(Oid owner)
{
	Oid			prev = running_script_owner;

	running_script_owner = owner;
	return prev;
}

/*
 * The script's function returned (or failed): restore the outer state.
 */
void
oml_registry_run_end(Oid prev)
{
	running_script_owner = prev;
}

/*
 * The owner of the script whose function runs now (InvalidOid: none).
 */
Oid
oml_registry_running_owner(void)
{
	return running_script_owner;
}

/*
 * The in-server loader starts (true) or ends (false) reading.
 */
bool
oml_registry_load_begin(bool on)
{
	bool		prev = loading_in_script;

	loading_in_script = on;
	return prev;
}

/*
 * May caller load (not read) a datastore of ds_owner with grants acl
 * through a usage grant, now?  See the header comment.
 */
bool
oml_ds_usage_allowed(Oid caller, Oid ds_owner, Acl *acl)
{
	Oid			script_owner = running_script_owner;

	if (!loading_in_script || !OidIsValid(script_owner) || acl == NULL)
		return false;
	if (script_owner == caller || has_privs_of_role(caller, script_owner))
		return false;
	if (aclmask(acl, caller, ds_owner, ACL_USAGE, ACLMASK_ANY) == 0)
		return false;
	return oml_role_can_read(script_owner, ds_owner, acl);
}

/*
 * Refuse a name with '@' for a script that does not exist yet: '@' starts
 * a version or alias in references.
 */
void
oml_script_check_new_name(const char *name)
{
	if (strchr(name, '@') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("script name \"%s\" contains \"@\"", name),
				 errdetail("In a reference, \"@\" introduces a version or alias, as in \"score@3\" or \"score@prod\"."),
				 errhint("Choose a name without \"@\".")));
}

/*
 * Split a reference "name@ref" at its last '@'; false (and nothing set)
 * when there is none.
 */
bool
oml_script_ref_split(const char *ref, char **base, char **tail)
{
	const char *at = strrchr(ref, '@');

	if (at == NULL)
		return false;
	*base = pnstrdup(ref, at - ref);
	*tail = pstrdup(at + 1);
	return true;
}

/*
 * Is s a version number (digits only)?  Stores it in *version.
 */
static bool
parse_version(const char *s, int32 *version)
{
	int64		v = 0;

	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > PG_INT32_MAX)
			v = PG_INT32_MAX + (int64) 1;	/* too large: no such version */
	}
	*version = v > PG_INT32_MAX ? -1 : (int32) v;
	return true;
}

/*
 * Check an alias name: 1 to 63 characters, a letter or '_' first, then
 * letters, digits, '_', '-' and '.'; so it can never read as a version.
 */
char *
oml_check_alias(FunctionCallInfo fcinfo, int argno)
{
	char	   *alias;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("alias must not be null")));
	alias = oml_arg_text(fcinfo, argno);
	if (alias[0] == '\0' || strlen(alias) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid alias \"%s\"", alias),
				 errdetail("An alias has 1 to %d characters.", NAMEDATALEN - 1)));
	for (const char *p = alias; *p; p++)
	{
		bool		letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			*p == '_';
		bool		other = (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';

		if (!letter && (p == alias || !other))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid alias \"%s\"", alias),
					 errdetail("An alias starts with an ASCII letter or \"_\" and holds only ASCII letters, digits, \"_\", \"-\" and \".\"."),
					 errhint("Version numbers need no alias: reference them as name@3.")));
	}
	return alias;
}

/*
 * Resolve the version part of a reference to script_id (inside
 * oml_enter, as the catalog owner): a number names a kept version, any
 * other word an alias.  Sets *version and *source (in cxt) and copies the
 * alias (if one) into alias_out (NAMEDATALEN bytes).  ref_name is the
 * whole reference, for messages.
 */
void
oml_script_resolve_ref(int64 script_id, const char *tail, const char *ref_name,
					   const char *base, MemoryContext cxt, int32 *version,
					   char **source, char *alias_out)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	int32		v;
	bool		isnull;

	alias_out[0] = '\0';
	if (tail[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" names no version or alias", ref_name),
				 errhint("Write name@3 for version 3, name@prod for alias prod.")));
	values[0] = Int64GetDatum(script_id);
	if (!parse_version(tail, &v))
	{
		Oid			atypes[2] = {INT8OID, TEXTOID};
		Datum		avalues[2];

		avalues[0] = Int64GetDatum(script_id);
		avalues[1] = CStringGetTextDatum(tail);
		if (oml_spi("SELECT version FROM oml.script_alias"
					" WHERE script_id OPERATOR(pg_catalog.=) $1"
					" AND alias OPERATOR(pg_catalog.=) $2",
					true, 2, atypes, avalues, NULL, -1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("script \"%s\" has no alias \"%s\"", base, tail),
					 errdetail("Reference \"%s\" names an alias, since \"%s\" is not a number.",
							   ref_name, tail),
					 errhint("Set one with oml.script_alias_set, or see oml.script_aliases.")));
		v = DatumGetInt32(oml_spi_value(0, 0, &isnull));
		strlcpy(alias_out, tail, NAMEDATALEN);
	}
	values[1] = Int32GetDatum(v);
	if (v <= 0 ||
		oml_spi("SELECT source FROM oml.script_version"
				" WHERE script_id OPERATOR(pg_catalog.=) $1"
				" AND version OPERATOR(pg_catalog.=) $2",
				true, 2, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("script \"%s\" has no version %s", base, tail),
				 errhint("See oml.script_versions for the versions kept.")));
	*version = v;
	*source = MemoryContextStrdup(cxt,
								  TextDatumGetCString(oml_spi_value(0, 0, &isnull)));
}

/*
 * Record a new version of script_id, written by creator (inside
 * oml_enter, as the catalog owner, with the script's row locked): version 1 for a new script, else
 * one more than the newest; make it current and prune beyond
 * oml_store.script_versions_max.  Returns the version.
 */
int32
oml_script_add_version(int64 script_id, bool is_new, Oid creator,
					   Datum source, Datum description, bool description_null)
{
	Oid			argtypes[5] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int32		version = 1;
	bool		isnull;

	values[0] = Int64GetDatum(script_id);
	if (!is_new)
	{
		oml_spi("SELECT COALESCE(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1"
				" FROM oml.script_version WHERE script_id OPERATOR(pg_catalog.=) $1",
				false, 1, argtypes, values, NULL, 1);
		version = DatumGetInt32(oml_spi_value(0, 0, &isnull));
	}
	values[1] = Int32GetDatum(version);
	values[2] = source;
	values[3] = description;
	if (description_null)
		nulls[3] = 'n';
	values[4] = CStringGetTextDatum(GetUserNameFromId(creator, false));
	oml_spi("INSERT INTO oml.script_version (script_id, version, source, description, creator)"
			" VALUES ($1, $2, $3, $4, $5)",
			false, 5, argtypes, values, nulls, 1);
	oml_spi("UPDATE oml.script SET version = $2 WHERE id OPERATOR(pg_catalog.=) $1",
			false, 2, argtypes, values, NULL, 1);

	if (script_versions_max > 0)
	{
		Oid			ptypes[3] = {INT8OID, INT4OID, INT4OID};
		Datum		pvalues[3];

		pvalues[0] = Int64GetDatum(script_id);
		pvalues[1] = Int32GetDatum(version);
		pvalues[2] = Int32GetDatum(script_versions_max);
		oml_spi("DELETE FROM oml.script_version v"
				" WHERE v.script_id OPERATOR(pg_catalog.=) $1"
				" AND v.version OPERATOR(pg_catalog.<>) $2"
				" AND NOT EXISTS (SELECT FROM oml.script_alias a"
				"  WHERE a.script_id OPERATOR(pg_catalog.=) v.script_id"
				"  AND a.version OPERATOR(pg_catalog.=) v.version)"
				" AND v.version OPERATOR(pg_catalog.<=) ($2 OPERATOR(pg_catalog.-) $3)",
				false, 3, ptypes, pvalues, NULL, -1);
	}
	return version;
}

/*
 * Find and lock caller's script for a registry change (private:
 * the caller's own; global: one the caller created, or any for a
 * superuser); returns its id and stores its current version.  Queries
 * after the lock run with read_only false, so that (in READ COMMITTED)
 * each takes a new snapshot and sees what the lock's previous holder
 * committed.
 */
static int64
lock_own_script(Oid caller, const char *name, bool is_global, int32 *current)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, BOOLOID};
	Datum		values[3];
	bool		isnull;

	oml_lock_name(OML_LOCK_SCRIPT, is_global ? InvalidOid : caller, name);
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(is_global);
	if (oml_spi(is_global ?
				"SELECT id, owner, version FROM oml.script WHERE name = $2 AND is_global AND $3 FOR UPDATE" :
				"SELECT id, owner, version FROM oml.script WHERE owner = $1 AND name = $2 AND NOT is_global AND NOT $3 FOR UPDATE",
				false, 3, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s script \"%s\" does not exist",
						is_global ? "global" : "private", name),
				 is_global ? 0 :
				 errhint("Only the owner of a script sets its aliases and drops its versions; pass v_global => true for a global script.")));
	if (DatumGetObjectId(oml_spi_value(0, 1, &isnull)) != caller &&
		!superuser_arg(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change global script \"%s\"", name),
				 errdetail("Only its creator or a superuser can change it.")));
	*current = DatumGetInt32(oml_spi_value(0, 2, &isnull));
	return DatumGetInt64(oml_spi_value(0, 0, &isnull));
}

/* The script registry's tables, for the helpers below. */
const OmlRegistryKind oml_registry_scripts = {
	"script", "script", "script_id", "script_version", "script_alias", "script",
	"Overwrite the script first, or drop the whole script with oml.pyqScriptDrop."
};

/*
 * Point alias of object id (of kind k, named name, whose current version
 * is current) at version, setting or moving it; inside oml_enter as the
 * catalog owner, with the object locked.  set_by names the caller.
 */
void
oml_registry_alias_set(const OmlRegistryKind *k, int64 id, const char *name,
					   const char *alias, int32 version, int32 current,
					   Oid set_by)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[4];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(alias);
	values[2] = Int32GetDatum(version);
	values[3] = CStringGetTextDatum(GetUserNameFromId(set_by, false));
	if (version != current &&
		oml_spi(psprintf("SELECT FROM oml.%s WHERE %s OPERATOR(pg_catalog.=) $1"
						 " AND version OPERATOR(pg_catalog.=) $3",
						 k->version_table, k->key),
				false, 4, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" has no version %d", k->what, name, version),
				 errhint("See oml.%s_versions for the versions kept.", k->view)));
	oml_spi(psprintf("INSERT INTO oml.%s (%s, alias, version, set_by)"
					 " VALUES ($1, $2, $3, $4) ON CONFLICT (%s, alias) DO UPDATE"
					 " SET version = EXCLUDED.version, set_by = EXCLUDED.set_by,"
					 " set_at = pg_catalog.now()",
					 k->alias_table, k->key, k->key),
			false, 4, argtypes, values, NULL, 1);
}

/*
 * Drop alias of object id (of kind k); a missing one is an error unless
 * silent.  Inside oml_enter, with the object locked.
 */
void
oml_registry_alias_drop(const OmlRegistryKind *k, int64 id, const char *name,
						const char *alias, bool silent)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(alias);
	if (oml_spi(psprintf("DELETE FROM oml.%s WHERE %s OPERATOR(pg_catalog.=) $1"
						 " AND alias OPERATOR(pg_catalog.=) $2",
						 k->alias_table, k->key),
				false, 2, argtypes, values, NULL, -1) == 0 && !silent)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" has no alias \"%s\"", k->what, name, alias)));
}

/*
 * Drop a kept version of object id (of kind k): not the current one
 * (55006), not one an alias names (2BP01).  Inside oml_enter, with the
 * object locked.
 */
void
oml_registry_version_drop(const OmlRegistryKind *k, int64 id, const char *name,
						  int32 version, int32 current)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	bool		isnull;

	if (version == current)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot drop version %d of %s \"%s\": it is the current version",
						version, k->what, name),
				 errhint("%s", k->drop_hint)));
	values[0] = Int64GetDatum(id);
	values[1] = Int32GetDatum(version);
	if (oml_spi(psprintf("SELECT alias FROM oml.%s WHERE %s OPERATOR(pg_catalog.=) $1"
						 " AND version OPERATOR(pg_catalog.=) $2"
						 " ORDER BY alias COLLATE \"C\"",
						 k->alias_table, k->key),
				false, 2, argtypes, values, NULL, -1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop version %d of %s \"%s\": alias \"%s\" names it",
						version, k->what, name,
						TextDatumGetCString(oml_spi_value(0, 0, &isnull))),
				 errhint("Move or drop the alias first with oml.%s_alias_set or oml.%s_alias_drop.",
						 k->fn_prefix, k->fn_prefix)));
	if (oml_spi(psprintf("DELETE FROM oml.%s WHERE %s OPERATOR(pg_catalog.=) $1"
						 " AND version OPERATOR(pg_catalog.=) $2",
						 k->version_table, k->key),
				false, 2, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" has no version %d", k->what, name, version)));
}

/*
 * SQL oml.script_alias_set(v_name, v_alias, v_version, v_global).
 */
Datum
oml_script_alias_set(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("script", fcinfo, 0);
	char	   *alias = oml_check_alias(fcinfo, 1);
	bool		is_global = oml_check_bool("v_global", fcinfo, 3);
	OmlContext	ctx;
	int64		id;
	int32		current;
	int32		version;

	oml_enter(&ctx, true);
	id = lock_own_script(ctx.save_userid, name, is_global, &current);
	version = PG_ARGISNULL(2) ? current : PG_GETARG_INT32(2);
	oml_registry_alias_set(&oml_registry_scripts, id, name, alias, version,
						   current, ctx.save_userid);
	oml_leave(&ctx);
	PG_RETURN_INT32(version);
}

/*
 * A non-null alias argument (to drop: any text).
 */
char *
oml_alias_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("alias must not be null")));
	return oml_arg_text(fcinfo, argno);
}

/*
 * SQL oml.script_alias_drop(v_name, v_alias, v_global, v_silent).
 */
Datum
oml_script_alias_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("script", fcinfo, 0);
	char	   *alias = oml_alias_arg(fcinfo, 1);
	bool		is_global = oml_check_bool("v_global", fcinfo, 2);
	bool		silent = oml_check_bool("v_silent", fcinfo, 3);
	OmlContext	ctx;
	int32		current;
	int64		id;

	oml_enter(&ctx, true);
	id = lock_own_script(ctx.save_userid, name, is_global, &current);
	oml_registry_alias_drop(&oml_registry_scripts, id, name, alias, silent);
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * A non-null version argument.
 */
int32
oml_version_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("version must not be null")));
	return PG_GETARG_INT32(argno);
}

/*
 * SQL oml.script_version_drop(v_name, v_version, v_global).
 */
Datum
oml_script_version_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("script", fcinfo, 0);
	int32		version = oml_version_arg(fcinfo, 1);
	bool		is_global = oml_check_bool("v_global", fcinfo, 2);
	OmlContext	ctx;
	int32		current;
	int64		id;

	oml_enter(&ctx, true);
	id = lock_own_script(ctx.save_userid, name, is_global, &current);
	oml_registry_version_drop(&oml_registry_scripts, id, name, version, current);
	oml_leave(&ctx);
	PG_RETURN_VOID();
}
