/*-------------------------------------------------------------------------
 *
 * dsversion.c
 *	  Versions and aliases of datastores (issue 11), opt in: a datastore
 *	  saved with versioned => true keeps, on every overwrite, its previous
 *	  objects and bytes as an immutable version (1, 2, ...), which loads
 *	  can name by number or through an alias.
 *
 * The current objects stay in oml.datastore_object and oml.datastore_chunk,
 * so every 0.2.0 query is unchanged; an overwrite copies them into
 * oml.datastore_version_object and oml.datastore_version_chunk before it
 * replaces them, and oml.datastore.version counts on.  Appends and object
 * deletes change the current version in place.  The loaders (dsread.c for
 * the server, oml.ds_version_objects for the client) resolve a requested
 * version here; the trust and read rules are those of the current objects.
 *
 * A kept object records its writer by name (oml.datastore_version_object
 * .writer is text), so kept versions do not hold roles: DROP ROLE of a
 * writer is not refused for them, and their objects are then trusted only
 * if a trusted role of that name exists again (renaming the writer makes
 * them untrusted: the rule fails closed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_ds_alias_set);
PG_FUNCTION_INFO_V1(oml_ds_alias_drop);
PG_FUNCTION_INFO_V1(oml_ds_version_drop);
PG_FUNCTION_INFO_V1(oml_ds_version_objects);

/* oml_store.datastore_versions_max: versions kept per datastore, 0: all */
static int	ds_versions_max = 0;

/* The version the in-server loader was asked for (pyload.c). */
static bool req_set = false;
static int32 req_version = 0;	/* 0: by alias */
static char req_alias[NAMEDATALEN];

/*
 * Define the setting; called from oml_registry_init.
 */
void
oml_dsversion_init(void)
{
	DefineCustomIntVariable("oml_store.datastore_versions_max",
							"Versions kept per versioned datastore (0 keeps every one).",
							"An overwrite beyond this prunes the oldest versions; "
							"versions an alias names are always kept.",
							&ds_versions_max,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/*
 * The in-server loader's next read is of version (> 0), or of what alias
 * names (version 0), or (set false) of the current objects.
 */
void
oml_ds_version_request(bool set, int32 version, const char *alias)
{
	req_set = set;
	req_version = version;
	req_alias[0] = '\0';
	if (set && alias)
		strlcpy(req_alias, alias, NAMEDATALEN);
}

/*
 * The kept version of datastore ds_id (named name) that version or alias
 * names, inside oml_enter; 0 when it is the current one.
 */
static int32
resolve(int64 ds_id, const char *name, int32 version, const char *alias)
{
	Oid			argtypes[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	int32		current;

	values[0] = Int64GetDatum(ds_id);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(alias ? alias : "");
	if (alias && alias[0])
	{
		if (oml_spi("SELECT version FROM oml.datastore_alias"
					" WHERE ds_id OPERATOR(pg_catalog.=) $1"
					" AND alias OPERATOR(pg_catalog.=) $3",
					true, 3, argtypes, values, NULL, -1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("datastore \"%s\" has no alias \"%s\"", name, alias),
					 errhint("Set one with oml.ds_alias_set, or see oml.datastore_versions.")));
		version = DatumGetInt32(oml_spi_value(0, 0, &isnull));
		values[1] = Int32GetDatum(version);
	}
	oml_spi("SELECT version FROM oml.datastore WHERE id OPERATOR(pg_catalog.=) $1",
			true, 1, argtypes, values, NULL, 1);
	current = DatumGetInt32(oml_spi_value(0, 0, &isnull));
	if (version == current)
		return 0;
	if (oml_spi("SELECT FROM oml.datastore_version WHERE ds_id OPERATOR(pg_catalog.=) $1"
				" AND version OPERATOR(pg_catalog.=) $2",
				true, 3, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore \"%s\" has no version %d", name, version),
				 errhint("See oml.datastore_versions for the versions kept.")));
	return version;
}

/*
 * For the in-server loader (dsread.c, inside oml_enter): the kept version
 * its caller asked for, or 0 for the current objects.
 */
int32
oml_ds_version_resolve(int64 ds_id, const char *name)
{
	if (!req_set)
		return 0;
	return resolve(ds_id, name, req_version, req_alias);
}

/*
 * Keep the current objects of datastore ds_id as a version before an
 * overwrite replaces them (inside oml_enter, as the catalog owner, with the
 * datastore's row locked); the overwrite then makes the next version.
 */
void
oml_ds_archive_current(int64 ds_id)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];

	values[0] = Int64GetDatum(ds_id);
	oml_spi("INSERT INTO oml.datastore_version (ds_id, version, description, created)"
			" SELECT id, version, description, created FROM oml.datastore"
			" WHERE id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, 1);
	oml_spi("INSERT INTO oml.datastore_version_object (id, ds_id, version, name, class,"
			" size, length, nrow, ncol, nchunks, compression, writer, trusted, created)"
			" SELECT o.id, o.ds_id, d.version, o.name, o.class, o.size, o.length,"
			" o.nrow, o.ncol, o.nchunks, o.compression,"
			" pg_catalog.pg_get_userbyid(o.writer), o.trusted, o.created"
			" FROM oml.datastore_object o JOIN oml.datastore d"
			" ON d.id OPERATOR(pg_catalog.=) o.ds_id"
			" WHERE o.ds_id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("INSERT INTO oml.datastore_version_chunk (obj_id, seq, data)"
			" SELECT c.obj_id, c.seq, c.data FROM oml.datastore_chunk c"
			" JOIN oml.datastore_object o ON o.id OPERATOR(pg_catalog.=) c.obj_id"
			" WHERE o.ds_id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("UPDATE oml.datastore SET version = version OPERATOR(pg_catalog.+) 1"
			" WHERE id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, 1);
	if (ds_versions_max > 0)
	{
		values[1] = Int32GetDatum(ds_versions_max);
		oml_spi("DELETE FROM oml.datastore_version v"
				" WHERE v.ds_id OPERATOR(pg_catalog.=) $1"
				" AND NOT EXISTS (SELECT FROM oml.datastore_alias a"
				"  WHERE a.ds_id OPERATOR(pg_catalog.=) v.ds_id"
				"  AND a.version OPERATOR(pg_catalog.=) v.version)"
				" AND v.version OPERATOR(pg_catalog.<=)"
				"  ((SELECT d.version FROM oml.datastore d WHERE d.id OPERATOR(pg_catalog.=) $1)"
				"   OPERATOR(pg_catalog.-) $2)",
				false, 2, argtypes, values, NULL, -1);
	}
}

/*
 * Lock the caller's own datastore name for a version or alias change;
 * returns its id and stores its current version.  Later queries take
 * fresh snapshots (read_only false), as in registry.c.
 */
static int64
lock_own_datastore(Oid caller, const char *name, int32 *current)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	oml_lock_name(OML_LOCK_DATASTORE, caller, name);
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	if (oml_spi("SELECT id, version FROM oml.datastore"
				" WHERE owner OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2"
				" FOR UPDATE",
				false, 2, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore \"%s\" does not exist", name),
				 errhint("Only the owner of a datastore sets its aliases and drops its versions.")));
	*current = DatumGetInt32(oml_spi_value(0, 1, &isnull));
	return DatumGetInt64(oml_spi_value(0, 0, &isnull));
}

/* The datastore registry's tables (registry.c's helpers). */
static const OmlRegistryKind ds_kind = {
	"datastore", "ds", "ds_id", "datastore_version", "datastore_alias", "datastore",
	"Overwrite the datastore first, or delete it with oml.ds_delete."
};

/*
 * SQL oml.ds_alias_set(ds_name, v_alias, v_version): point an alias of an
 * own datastore at a version (the current one by default).
 */
Datum
oml_ds_alias_set(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("datastore", fcinfo, 0);
	char	   *alias = oml_check_alias(fcinfo, 1);
	OmlContext	ctx;
	int64		id;
	int32		current;
	int32		version;

	oml_enter(&ctx, true);
	id = lock_own_datastore(ctx.save_userid, name, &current);
	version = PG_ARGISNULL(2) ? current : PG_GETARG_INT32(2);
	oml_registry_alias_set(&ds_kind, id, name, alias, version, current,
						   ctx.save_userid);
	oml_leave(&ctx);
	PG_RETURN_INT32(version);
}

/*
 * SQL oml.ds_alias_drop(ds_name, v_alias, v_silent).
 */
Datum
oml_ds_alias_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("datastore", fcinfo, 0);
	char	   *alias = oml_alias_arg(fcinfo, 1);
	bool		silent = oml_check_bool("v_silent", fcinfo, 2);
	OmlContext	ctx;
	int32		current;
	int64		id;

	oml_enter(&ctx, true);
	id = lock_own_datastore(ctx.save_userid, name, &current);
	oml_registry_alias_drop(&ds_kind, id, name, alias, silent);
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * SQL oml.ds_version_drop(ds_name, v_version): drop a kept version of an
 * own datastore, not one an alias names.
 */
Datum
oml_ds_version_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name_to_drop("datastore", fcinfo, 0);
	int32		version = oml_version_arg(fcinfo, 1);
	OmlContext	ctx;
	int32		current;
	int64		id;

	oml_enter(&ctx, true);
	id = lock_own_datastore(ctx.save_userid, name, &current);
	oml_registry_version_drop(&ds_kind, id, name, version, current);
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * SQL oml.ds_version_objects(ds_name, ds_owner, objs, v_version, v_alias):
 * what the client's load of a version needs, as oml.ds_objects gives it
 * for the current objects (read right required: a usage grant does not
 * count), plus whether the bytes are in oml.datastore_version_chunk.
 */
Datum
oml_ds_version_objects(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	Oid			owner = oml_resolve_owner(fcinfo, 1);
	ArrayType  *objs = oml_check_name_array(fcinfo, 2);
	char	   *alias = oml_arg_text(fcinfo, 4);
	Oid			caller = GetUserId();
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OmlContext	ctx;
	int64		ds_id;
	int32		version;
	Oid			argtypes[3] = {INT8OID, TEXTARRAYOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			n;

	if (PG_ARGISNULL(3) == (alias == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give either a version or an alias")));
	InitMaterializedSRF(fcinfo, 0);
	oml_enter(&ctx, true);
	ds_id = oml_ds_find_readable(caller, owner, name);
	version = resolve(ds_id, name, PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3), alias);
	values[0] = Int64GetDatum(ds_id);
	values[1] = objs ? PointerGetDatum(objs) : (Datum) 0;
	if (!objs)
		nulls[1] = 'n';
	values[2] = Int32GetDatum(version);
	if (objs &&
		oml_spi(version == 0 ?
				"SELECT n FROM pg_catalog.unnest($2) AS n WHERE NOT EXISTS"
				" (SELECT FROM oml.datastore_object o WHERE o.ds_id OPERATOR(pg_catalog.=) $1"
				" AND o.name OPERATOR(pg_catalog.=) n) AND $3 IS NOT NULL LIMIT 1" :
				"SELECT n FROM pg_catalog.unnest($2) AS n WHERE NOT EXISTS"
				" (SELECT FROM oml.datastore_version_object o WHERE o.ds_id OPERATOR(pg_catalog.=) $1"
				" AND o.version OPERATOR(pg_catalog.=) $3"
				" AND o.name OPERATOR(pg_catalog.=) n) LIMIT 1",
				true, 3, argtypes, values, nulls, -1) > 0)
	{
		bool		isnull;

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("object \"%s\" does not exist in datastore \"%s\"",
						TextDatumGetCString(oml_spi_value(0, 0, &isnull)), name)));
	}
	n = oml_spi(version == 0 ?
				"SELECT name, id, size, nchunks, compression, trusted, writer, false"
				" FROM oml.datastore_object WHERE ds_id OPERATOR(pg_catalog.=) $1"
				" AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($2)) AND $3 IS NOT NULL"
				" ORDER BY name COLLATE \"C\"" :
				"SELECT name, id, size, nchunks, compression, trusted,"
				" COALESCE((SELECT r.oid FROM pg_catalog.pg_roles r"
				"  WHERE r.rolname OPERATOR(pg_catalog.=) writer), 0), true"
				" FROM oml.datastore_version_object WHERE ds_id OPERATOR(pg_catalog.=) $1"
				" AND version OPERATOR(pg_catalog.=) $3"
				" AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($2))"
				" ORDER BY name COLLATE \"C\"",
				true, 3, argtypes, values, nulls, -1);
	for (int r = 0; r < n; r++)
	{
		Datum		out[8];
		bool		outnulls[8];
		Oid			writer;

		for (int c = 0; c < 8; c++)
			out[c] = oml_spi_value(r, c, &outnulls[c]);
		writer = DatumGetObjectId(out[6]);
		out[5] = BoolGetDatum(oml_object_trusted(DatumGetBool(out[5]), writer));
		out[6] = CStringGetTextDatum(oml_role_name(writer));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	oml_leave(&ctx);
	return (Datum) 0;
}
