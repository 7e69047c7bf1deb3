/*-------------------------------------------------------------------------
 *
 * datastore.c
 *	  Datastores: saving objects in chunks, finding, describing, listing,
 *	  reading and deleting them.
 *
 * A save is a sequence of calls inside one transaction: ds_save_begin,
 * then for each object ds_put_object and its chunks through ds_put_chunk.
 * Rolled back, it leaves nothing.  The bytes are opaque here; clients
 * pickle and unpickle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_ds_save_begin);
PG_FUNCTION_INFO_V1(oml_ds_put_object);
PG_FUNCTION_INFO_V1(oml_ds_put_chunk);
PG_FUNCTION_INFO_V1(oml_ds_chunk_in);
PG_FUNCTION_INFO_V1(oml_ds_open);
PG_FUNCTION_INFO_V1(oml_ds_objects);
PG_FUNCTION_INFO_V1(oml_ds_get_chunk);
PG_FUNCTION_INFO_V1(oml_ds_describe);
PG_FUNCTION_INFO_V1(oml_ds_delete);
PG_FUNCTION_INFO_V1(oml_ds_dir);

/* Longest class name we record. */
#define OML_CLASS_MAXLEN 1024

/*
 * A datastore as found by find_datastore.
 */
typedef struct DsRow
{
	int64		id;
	Oid			owner;
	char	   *name;
} DsRow;

/*
 * The error for a datastore that is not there, naming its owner when it is
 * not the caller.
 */
static void
report_missing(const char *name, Oid owner, Oid caller)
{
	if (owner == caller)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore \"%s\" does not exist", name)));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("datastore \"%s\" of role \"%s\" does not exist",
					name, GetUserNameFromId(owner, false))));
}

/* What a usage grant allows a lookup for reading (registry.c). */
#define USAGE_NONE 0			/* nothing: read is needed */
#define USAGE_DESCRIBE 1		/* any usage grant */
#define USAGE_LOAD 2			/* a usage grant, inside a script run */

/*
 * Look up datastore name of owner, inside oml_enter(as_owner).  With
 * for_read, the caller must be able to read it (or, per usage, hold a
 * usage grant); otherwise it must be the caller's own (the lookup then
 * locks the row).
 */
static void
find_datastore_usage(Oid caller, Oid owner, const char *name, bool for_read,
					 int usage, DsRow *row)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		acl;

	values[0] = ObjectIdGetDatum(owner);
	values[1] = CStringGetTextDatum(name);
	if (oml_spi(for_read ?
				"SELECT id, acl FROM oml.datastore WHERE owner = $1 AND name = $2" :
				"SELECT id, acl FROM oml.datastore WHERE owner = $1 AND name = $2 FOR UPDATE",
				for_read, 2, argtypes, values, NULL, -1) == 0)
		report_missing(name, owner, caller);
	row->id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	row->owner = owner;
	row->name = pstrdup(name);
	acl = oml_spi_value(0, 1, &isnull);
	if (for_read &&
		!oml_role_can_read(caller, owner, isnull ? NULL : DatumGetAclP(acl)) &&
		!(usage == USAGE_DESCRIBE && !isnull &&
		  aclmask(DatumGetAclP(acl), caller, owner, ACL_USAGE, ACLMASK_ANY) != 0) &&
		!(usage == USAGE_LOAD && !isnull &&
		  oml_ds_usage_allowed(caller, owner, DatumGetAclP(acl))))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for datastore \"%s\" of role \"%s\"",
						name, GetUserNameFromId(owner, false)),
				 errhint("Its owner can share it with oml.pyqGrant.")));
}

/*
 * find_datastore_usage for which a usage grant does not count.
 */
static void
find_datastore(Oid caller, Oid owner, const char *name, bool for_read,
			   DsRow *row)
{
	find_datastore_usage(caller, owner, name, for_read, USAGE_NONE, row);
}

/*
 * Check that datastore id exists and belongs to the caller; returns its name.
 * Runs inside oml_enter(as_owner).
 */
static char *
own_datastore_by_id(Oid caller, int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	Oid			owner;

	values[0] = Int64GetDatum(id);
	if (oml_spi("SELECT owner, name FROM oml.datastore WHERE id = $1",
				false, 1, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore with id " INT64_FORMAT " does not exist", id),
				 errhint("Start a save with oml.ds_save_begin in the same transaction.")));
	owner = DatumGetObjectId(oml_spi_value(0, 0, &isnull));
	if (owner != caller)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for datastore with id " INT64_FORMAT, id),
				 errdetail("Only the owner of a datastore can save into it.")));
	return TextDatumGetCString(oml_spi_value(0, 1, &isnull));
}

/*
 * A bigint argument that must be given and not negative.
 */
static int64
check_count(const char *what, FunctionCallInfo fcinfo, int argno)
{
	int64		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	v = PG_GETARG_INT64(argno);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what)));
	return v;
}

/*
 * An id argument that must be given.
 */
static int64
check_id(const char *what, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_INT64(argno);
}

/*
 * A text[] argument of object names, checked; NULL gives NULL.
 */
static ArrayType *
check_name_array(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("object names must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("object names must not contain null")));
	}
	return arr;
}

/*
 * SQL oml.ds_save_begin(ds_name, description, grantable, overwrite, append):
 * create, replace or open for appending a datastore of the current role.
 */
Datum
oml_ds_save_begin(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	bool		grantable = oml_check_bool("grantable", fcinfo, 2);
	bool		overwrite = oml_check_bool("overwrite", fcinfo, 3);
	bool		append = oml_check_bool("append", fcinfo, 4);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;
	/* versioned (0.3.0 on): NULL keeps what the datastore has (dsversion.c) */
	bool		registry = oml_registry_available();
	int			versioned = (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ?
		(PG_GETARG_BOOL(5) ? 1 : 0) : -1;

	if (overwrite && append)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("overwrite and append cannot both be true"),
				 errhint("Use overwrite to replace the datastore, or append to add objects to it.")));

	oml_lock_name(OML_LOCK_DATASTORE, caller, name);
	oml_enter(&ctx, true);

	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	if (PG_ARGISNULL(1))
		nulls[2] = 'n';
	else
		values[2] = PG_GETARG_DATUM(1);
	values[3] = BoolGetDatum(grantable);

	if (oml_spi(registry ?
				"SELECT id, versioned FROM oml.datastore WHERE owner = $1 AND name = $2 FOR UPDATE" :
				"SELECT id, false FROM oml.datastore WHERE owner = $1 AND name = $2 FOR UPDATE",
				false, 2, argtypes, values, nulls, -1) == 0)
	{
		if (oml_spi("INSERT INTO oml.datastore (id, owner, name, description, grantable)"
				" VALUES (nextval('oml.datastore_id_seq'), $1, $2, $3, $4)"
				" ON CONFLICT (owner, name) DO NOTHING RETURNING id",
				false, 4, argtypes, values, nulls, -1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("datastore \"%s\" already exists", name),
					 errdetail("Another session created it after this transaction's snapshot was taken.")));
		id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	}
	else
	{
		Oid			idtype[1] = {INT8OID};
		Datum		idval[1];

		id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
		if (!overwrite && !append)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("datastore \"%s\" already exists", name),
					 errhint("Pass overwrite => true to replace it, or append => true to add objects to it.")));
		if (overwrite)
		{
			Oid			uptypes[4] = {INT8OID, TEXTOID, TEXTOID, BOOLOID};

			/* A versioned datastore keeps what it had as a version. */
			if (versioned == 1 ||
				(versioned == -1 && DatumGetBool(oml_spi_value(0, 1, &isnull))))
				oml_ds_archive_current(id);
			/* A new datastore under the old name: keep its grants if allowed. */
			idval[0] = Int64GetDatum(id);
			oml_spi("DELETE FROM oml.datastore_object WHERE ds_id = $1",
					false, 1, idtype, idval, NULL, -1);
			values[0] = Int64GetDatum(id);
			oml_spi("UPDATE oml.datastore SET description = $3, grantable = $4,"
					" created = now(), acl = CASE WHEN $4 THEN acl END"
					" WHERE id = $1",
					false, 4, uptypes, values, nulls, 1);
		}
	}
	if (registry && versioned != -1)
	{
		Oid			vtypes[2] = {INT8OID, BOOLOID};
		Datum		vvalues[2];

		vvalues[0] = Int64GetDatum(id);
		vvalues[1] = BoolGetDatum(versioned == 1);
		oml_spi("UPDATE oml.datastore SET versioned = $2 WHERE id OPERATOR(pg_catalog.=) $1",
				false, 2, vtypes, vvalues, NULL, 1);
	}
	oml_leave(&ctx);
	PG_RETURN_INT64(id);
}

/*
 * SQL oml.ds_put_object(ds_id, obj_name, class, length, nrow, ncol,
 * compression): add an object to one's own datastore, replacing one of the
 * same name; its bytes follow through ds_put_chunk.
 */
Datum
oml_ds_put_object(PG_FUNCTION_ARGS)
{
	int64		ds_id = check_id("datastore id", fcinfo, 0);
	char	   *obj_name = oml_check_name("object", fcinfo, 1);
	char	   *class;
	int64		length = check_count("length", fcinfo, 3);
	int64		nrow = check_count("nrow", fcinfo, 4);
	int64		ncol = check_count("ncol", fcinfo, 5);
	char	   *compression;
	Oid			caller = GetUserId();
	OmlContext	ctx;
	char	   *ds_name;
	int64		obj_id;
	bool		isnull;

	if (PG_ARGISNULL(2) || PG_GETARG_TEXT_PP(2) == NULL ||
		VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(2)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("class must not be null or empty")));
	class = oml_arg_text(fcinfo, 2);
	if (strlen(class) > OML_CLASS_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("class name is too long"),
				 errdetail("Class names are at most %d bytes.", OML_CLASS_MAXLEN)));
	compression = PG_ARGISNULL(6) ? "none" : oml_arg_text(fcinfo, 6);
	if (strcmp(compression, "none") != 0 && strcmp(compression, "zlib") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown compression \"%s\"", compression),
				 errhint("Use 'none' or 'zlib'.")));

	oml_enter(&ctx, true);
	ds_name = own_datastore_by_id(caller, ds_id);
	oml_lock_name(OML_LOCK_DATASTORE, caller, ds_name);
	(void) own_datastore_by_id(caller, ds_id);	/* still there after the wait */
	{
		Oid			argtypes[9] = {INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID,
		INT8OID, TEXTOID, OIDOID, BOOLOID};
		Datum		values[9];

		values[0] = Int64GetDatum(ds_id);
		values[1] = CStringGetTextDatum(obj_name);
		oml_spi("DELETE FROM oml.datastore_object WHERE ds_id = $1 AND name = $2",
				false, 2, argtypes, values, NULL, -1);
		values[2] = CStringGetTextDatum(class);
		values[3] = Int64GetDatum(length);
		values[4] = Int64GetDatum(nrow);
		values[5] = Int64GetDatum(ncol);
		values[6] = CStringGetTextDatum(compression);
		values[7] = ObjectIdGetDatum(caller);
		values[8] = BoolGetDatum(oml_role_is_trusted(caller));
		if (oml_spi("INSERT INTO oml.datastore_object"
				" (id, ds_id, name, class, length, nrow, ncol, compression, writer, trusted)"
				" VALUES (nextval('oml.datastore_object_id_seq'),"
				" $1, $2, $3, $4, $5, $6, $7, $8, $9)"
				" ON CONFLICT (ds_id, name) DO NOTHING RETURNING id",
				false, 9, argtypes, values, NULL, -1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("Another session saved object \"%s\" after this transaction's snapshot was taken.", obj_name)));
		obj_id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	}
	oml_leave(&ctx);
	PG_RETURN_INT64(obj_id);
}

/*
 * Append the next chunk of an object's bytes; returns the object's size
 * so far.  Shared by oml.ds_put_chunk and the COPY trigger.
 */
static int64
put_chunk(int64 obj_id, bytea *data)
{
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[3] = {INT8OID, BYTEAOID, BOOLOID};
	Datum		values[3];
	bool		isnull;
	int64		ds_id;
	int64		size;
	int32		nchunks;

	if (VARSIZE_ANY_EXHDR(data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk data must not be empty")));

	oml_enter(&ctx, true);
	values[0] = Int64GetDatum(obj_id);
	if (oml_spi("SELECT ds_id FROM oml.datastore_object WHERE id = $1",
				false, 1, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore object with id " INT64_FORMAT " does not exist",
						obj_id),
				 errhint("Create the object with oml.ds_put_object in the same transaction.")));
	ds_id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	oml_lock_name(OML_LOCK_DATASTORE, caller, own_datastore_by_id(caller, ds_id));

	/* The object may have changed while we waited for the lock. */
	if (oml_spi("SELECT nchunks, xmin FROM oml.datastore_object WHERE id = $1",
				false, 1, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore object with id " INT64_FORMAT " does not exist",
						obj_id)));
	nchunks = DatumGetInt32(oml_spi_value(0, 0, &isnull));

	/* A saved object is immutable: only its own save may add bytes. */
	if (!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(oml_spi_value(0, 1, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("datastore object with id " INT64_FORMAT " was saved by an earlier transaction",
						obj_id),
				 errdetail("Chunks can only be added in the transaction that created the object."),
				 errhint("Save the object again with oml.ds_put_object.")));

	values[1] = PointerGetDatum(data);
	values[2] = Int32GetDatum(nchunks);
	{
		Oid			instypes[3] = {INT8OID, BYTEAOID, INT4OID};

		oml_spi("INSERT INTO oml.datastore_chunk (obj_id, seq, data) VALUES ($1, $3, $2)",
				false, 3, instypes, values, NULL, 1);
	}
	values[1] = Int64GetDatum(VARSIZE_ANY_EXHDR(data));
	values[2] = BoolGetDatum(oml_role_is_trusted(caller));
	{
		Oid			uptypes[3] = {INT8OID, INT8OID, BOOLOID};

		oml_spi("UPDATE oml.datastore_object SET nchunks = nchunks + 1,"
				" size = size + $2, trusted = trusted AND $3"
				" WHERE id = $1 RETURNING size",
				false, 3, uptypes, values, NULL, 1);
	}
	size = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	oml_leave(&ctx);
	return size;
}

/*
 * SQL oml.ds_put_chunk(obj_id, data): append the next chunk of an object's
 * bytes; returns the object's size so far.
 */
Datum
oml_ds_put_chunk(PG_FUNCTION_ARGS)
{
	int64		obj_id = check_id("object id", fcinfo, 0);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chunk data must not be null")));
	PG_RETURN_INT64(put_chunk(obj_id, PG_GETARG_BYTEA_PP(1)));
}

/*
 * Trigger on view oml.datastore_chunk_in: each row inserted (typically by
 * COPY ... FROM STDIN in binary, which carries bytes without escaping) is
 * an (obj_id, data) chunk, stored as oml.ds_put_chunk would.
 */
Datum
oml_ds_chunk_in(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;
	bool		isnull;
	int64		obj_id;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_INSTEAD(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("oml.ds_chunk_in() must be fired as an INSTEAD OF INSERT row trigger")));
	/* Only on our own view, whose columns are (bigint, bytea). */
	if (RelationGetRelid(trigdata->tg_relation) !=
		get_relname_relid("datastore_chunk_in", get_namespace_oid("oml", false)) ||
		RelationGetDescr(trigdata->tg_relation)->natts != 2 ||
		TupleDescAttr(RelationGetDescr(trigdata->tg_relation), 0)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(trigdata->tg_relation), 1)->atttypid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("oml.ds_chunk_in() may only be used on view oml.datastore_chunk_in")));
	tup = trigdata->tg_trigtuple;
	desc = trigdata->tg_relation->rd_att;
	d = heap_getattr(tup, 1, desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("object id must not be null")));
	obj_id = DatumGetInt64(d);
	d = heap_getattr(tup, 2, desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chunk data must not be null")));
	(void) put_chunk(obj_id, DatumGetByteaPP(d));
	return PointerGetDatum(tup);
}

/*
 * SQL oml.ds_open(ds_name, ds_owner): the id of a readable datastore.
 */
Datum
oml_ds_open(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	Oid			owner = oml_resolve_owner(fcinfo, 1);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	DsRow		row;

	oml_enter(&ctx, true);
	find_datastore(caller, owner, name, true, &row);
	oml_leave(&ctx);
	PG_RETURN_INT64(row.id);
}

/*
 * SQL oml.ds_objects(ds_name, ds_owner, objs): what a reader needs to fetch
 * the objects of a readable datastore, all or the named ones, by name.
 */
Datum
oml_ds_objects(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	Oid			owner = oml_resolve_owner(fcinfo, 1);
	ArrayType  *objs = check_name_array(fcinfo, 2);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	DsRow		row;
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	InitMaterializedSRF(fcinfo, 0);
	oml_enter(&ctx, true);
	find_datastore(caller, owner, name, true, &row);

	values[0] = Int64GetDatum(row.id);
	if (objs)
	{
		oml_ds_require_objects(row.id, objs, name);
		values[1] = PointerGetDatum(objs);
	}
	else
		nulls[1] = 'n';

	oml_spi("SELECT name, id, size, nchunks, compression, trusted, writer"
			" FROM oml.datastore_object"
			" WHERE ds_id = $1 AND ($2 IS NULL OR name = ANY ($2))"
			" ORDER BY name COLLATE \"C\"",
			true, 2, argtypes, values, nulls, -1);
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		TupleDesc	desc = rsinfo->setDesc;
		Datum		out[7];
		bool		outnulls[7];

		/* 0.1.0 declared six columns; 0.2.0 adds the writer. */
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Oid			writer;

			for (int c = 0; c < 6; c++)
				out[c] = oml_spi_value(r, c, &outnulls[c]);
			writer = DatumGetObjectId(oml_spi_value(r, 6, &outnulls[6]));
			out[5] = BoolGetDatum(oml_object_trusted(DatumGetBool(out[5]), writer));
			out[6] = CStringGetTextDatum(oml_role_name(writer));
			outnulls[6] = false;
			tuplestore_putvalues(rsinfo->setResult, desc, out, outnulls);
		}
	}
	oml_leave(&ctx);
	return (Datum) 0;
}

/*
 * SQL oml.ds_get_chunk(obj_id, seq): one chunk of a readable object's bytes.
 */
Datum
oml_ds_get_chunk(PG_FUNCTION_ARGS)
{
	int64		obj_id = check_id("object id", fcinfo, 0);
	int32		seq;
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	bool		isnull;
	Datum		acl;
	Oid			owner;
	int32		nchunks;
	bytea	   *result;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chunk number must not be null")));
	seq = PG_GETARG_INT32(1);

	oml_enter(&ctx, true);
	values[0] = Int64GetDatum(obj_id);
	values[1] = Int32GetDatum(seq);
	if (oml_spi("SELECT d.owner, d.acl, o.nchunks, d.name"
				" FROM oml.datastore_object o JOIN oml.datastore d ON d.id = o.ds_id"
				" WHERE o.id = $1",
				true, 1, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore object with id " INT64_FORMAT " does not exist",
						obj_id)));
	owner = DatumGetObjectId(oml_spi_value(0, 0, &isnull));
	acl = oml_spi_value(0, 1, &isnull);
	/* Ids are sequential: do not name what the caller may not see. */
	if (!oml_role_can_read(caller, owner, isnull ? NULL : DatumGetAclP(acl)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("datastore object with id " INT64_FORMAT " does not exist",
						obj_id)));
	nchunks = DatumGetInt32(oml_spi_value(0, 2, &isnull));
	if (seq < 0 || seq >= nchunks)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk %d of datastore object " INT64_FORMAT " does not exist",
						seq, obj_id),
				 errdetail("The object has %d chunks, numbered from 0.", nchunks)));
	oml_spi("SELECT data FROM oml.datastore_chunk WHERE obj_id = $1 AND seq = $2",
			true, 2, argtypes, values, NULL, 1);
	{
		/* Detoasted and copied out of SPI's memory before SPI_finish. */
		bytea	   *src = DatumGetByteaPP(oml_spi_value(0, 0, &isnull));
		Size		len = VARSIZE_ANY_EXHDR(src);

		result = SPI_palloc(VARHDRSZ + len);
		SET_VARSIZE(result, VARHDRSZ + len);
		memcpy(VARDATA(result), VARDATA_ANY(src), len);
	}
	oml_leave(&ctx);
	PG_RETURN_BYTEA_P(result);
}

/*
 * SQL oml.ds_describe(ds_name, ds_owner): the objects of a readable
 * datastore and the metadata recorded when they were saved.
 */
Datum
oml_ds_describe(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	Oid			owner = oml_resolve_owner(fcinfo, 1);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	DsRow		row;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	InitMaterializedSRF(fcinfo, 0);
	oml_enter(&ctx, true);
	/* A usage grant lets one see what a datastore holds (registry.c). */
	find_datastore_usage(caller, owner, name, true, USAGE_DESCRIBE, &row);
	values[0] = Int64GetDatum(row.id);
	oml_spi("SELECT name, class, size, length, nrow, ncol"
			" FROM oml.datastore_object WHERE ds_id = $1"
			" ORDER BY name COLLATE \"C\"",
			true, 1, argtypes, values, NULL, -1);
	oml_spi_to_tuplestore(fcinfo);
	oml_leave(&ctx);
	return (Datum) 0;
}

/*
 * SQL oml.ds_delete(ds_name, objs, regex_match): delete one's own
 * datastore, some of its objects, or every own datastore whose name matches
 * a regular expression.  Returns the number of datastores or objects deleted.
 */
Datum
oml_ds_delete(PG_FUNCTION_ARGS)
{
	bool		regex_match = oml_check_bool("regex_match", fcinfo, 2);
	char	   *name = regex_match ? oml_check_pattern(fcinfo, 0) :
		oml_check_name_to_drop("datastore", fcinfo, 0);
	ArrayType  *objs = check_name_array(fcinfo, 1);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	int			n;

	if (regex_match && objs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("objs cannot be given with regex_match"),
				 errhint("Delete objects from one datastore at a time, by name.")));

	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	if (regex_match)
	{
		oml_enter(&ctx, true);
		n = oml_spi("DELETE FROM oml.datastore WHERE owner = $1 AND name ~ $2",
					false, 2, argtypes, values, NULL, -1);
		oml_leave(&ctx);
		if (n == 0)
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("no datastore matches \"%s\"", name),
					 errdetail("Nothing was deleted.")));
		PG_RETURN_INT32(n);
	}

	oml_lock_name(OML_LOCK_DATASTORE, caller, name);
	oml_enter(&ctx, true);
	{
		DsRow		row;
		Oid			idtypes[2] = {INT8OID, TEXTARRAYOID};
		Datum		idvalues[2];

		find_datastore(caller, caller, name, false, &row);
		idvalues[0] = Int64GetDatum(row.id);
		if (objs == NULL)
			n = oml_spi("DELETE FROM oml.datastore WHERE id = $1",
						false, 1, idtypes, idvalues, NULL, 1);
		else
		{
			idvalues[1] = PointerGetDatum(objs);
			n = oml_spi("DELETE FROM oml.datastore_object"
						" WHERE ds_id = $1 AND name = ANY ($2)",
						false, 2, idtypes, idvalues, NULL, -1);
		}
	}
	oml_leave(&ctx);
	if (n == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("no objects were deleted from datastore \"%s\"", name),
				 errdetail("None of the named objects is in the datastore.")));
	PG_RETURN_INT32(n);
}

/*
 * SQL oml.ds_dir(ds_name, regex_match, dstype): datastores as oml.ds.dir
 * lists them.  Runs as the caller, so row-level security decides what is
 * readable.
 */
Datum
oml_ds_dir(PG_FUNCTION_ARGS)
{
	static const char *const dstypes[] = {
		"user", "grantable", "private", "grant", "granted", "all", NULL
	};
	static const char *const filters[] = {
		"d.owner = $1",
		"d.owner = $1 AND d.grantable",
		"d.owner = $1 AND NOT d.grantable",
		"d.owner = $1",
		"d.owner <> $1",
		"true",
	};
	bool		regex_match = oml_check_bool("regex_match", fcinfo, 1);
	int			kind = oml_check_choice("dstype", fcinfo, 2, dstypes);
	char	   *name = NULL;
	StringInfoData sql;
	TupleDesc	result;
	bool		owner_is_name;

	/* owner is text since 0.2.0, name in a 0.1.0 schema not yet updated */
	if (get_call_result_type(fcinfo, NULL, &result) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	owner_is_name = TupleDescAttr(result, 0)->atttypid == NAMEOID;

	if (!PG_ARGISNULL(0))
	{
		name = oml_arg_text(fcinfo, 0);
		if (!regex_match)
			name = oml_check_name("datastore", fcinfo, 0);
	}
	else if (regex_match)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a regular expression is needed with regex_match"),
				 errhint("Pass the pattern as ds_name.")));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT * FROM (SELECT pg_get_userbyid(d.owner)%s AS owner,"
					 " d.name,"
					 " (SELECT count(*) FROM oml.datastore_object o WHERE o.ds_id = d.id),"
					 " (SELECT coalesce(sum(o.size), 0)::bigint FROM oml.datastore_object o WHERE o.ds_id = d.id),"
					 " d.created, d.description, %s AS grantee"
					 " FROM oml.datastore d%s"
					 " WHERE %s AND ($2 IS NULL OR d.name %s $2)) s"
					 " ORDER BY %s",
					 owner_is_name ? "" : "::text",
					 kind == 3 ? "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END" : "NULL::text",
					 kind == 3 ? ", LATERAL aclexplode(d.acl) a" : "",
					 filters[kind],
					 regex_match ? "~" : "=",
					 kind == 3 ? "name COLLATE \"C\", grantee COLLATE \"C\"" :
					 kind >= 4 ? "owner::text COLLATE \"C\", name COLLATE \"C\"" :
					 "name COLLATE \"C\"");

	oml_list_as_caller(fcinfo, sql.data, name);
	return (Datum) 0;
}

/*
 * The id of datastore name of owner, which the caller must be able to read;
 * for other files, inside oml_enter(as_owner).
 */
int64
oml_ds_find_readable(Oid caller, Oid owner, const char *name)
{
	DsRow		row;

	find_datastore(caller, owner, name, true, &row);
	return row.id;
}

/*
 * oml_ds_find_readable for the loader, where a usage grant counts inside
 * a script run (registry.c).
 */
int64
oml_ds_find_loadable(Oid caller, Oid owner, const char *name)
{
	DsRow		row;

	find_datastore_usage(caller, owner, name, true, USAGE_LOAD, &row);
	return row.id;
}

/*
 * A text[] argument of object names, checked (NULL gives NULL); for other
 * files.
 */
ArrayType *
oml_check_name_array(FunctionCallInfo fcinfo, int argno)
{
	return check_name_array(fcinfo, argno);
}

/*
 * Check that every object named in objs is in datastore ds_id (named
 * ds_name in the error); inside oml_enter.
 */
void
oml_ds_require_objects(int64 ds_id, ArrayType *objs, const char *ds_name)
{
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	bool		isnull;

	values[0] = Int64GetDatum(ds_id);
	values[1] = PointerGetDatum(objs);
	if (oml_spi("SELECT n FROM pg_catalog.unnest($2) AS n"
				" WHERE NOT EXISTS (SELECT FROM oml.datastore_object o"
				" WHERE o.ds_id OPERATOR(pg_catalog.=) $1"
				" AND o.name OPERATOR(pg_catalog.=) n) LIMIT 1",
				true, 2, argtypes, values, NULL, -1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("object \"%s\" does not exist in datastore \"%s\"",
						TextDatumGetCString(oml_spi_value(0, 0, &isnull)),
						ds_name)));
}
