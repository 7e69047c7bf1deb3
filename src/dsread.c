/*-------------------------------------------------------------------------
 *
 * dsread.c
 *	  Reading datastore objects for unpickling inside the server, with the
 *	  trust rule decided here.
 *
 * Unpickling runs code as the server's OS user, so the server unpickles
 * only bytes written by trusted roles (superusers and members of
 * oml_developer; see oml_object_trusted).  This file is the one place that
 * hands such bytes out: oml_ds_read_objects checks that the caller may read
 * the datastore and that every object asked for is trusted, and only then
 * reads their chunks.  Everything runs as the extension owner with the
 * search_path pinned (oml_enter), from one snapshot, so nothing the caller
 * defines (operators, functions, types, search_path) can pair an object
 * with other bytes.
 *
 * The in-server Python package reads through _oml.load_objects (pyload.c);
 * SQL callers can use oml.ds_read, which returns the same bytes as rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_ds_read);

/*
 * One object to read, as listed before any bytes are read.
 */
typedef struct ReadItem
{
	char	   *name;
	int64		id;
	int64		size;
	int32		nchunks;
	char	   *compression;
	Oid			writer;
	bool		trusted;
} ReadItem;

/*
 * The error for bytes that do not add up to what the object records.
 */
static void
report_damaged(const char *ds_name, const ReadItem *item, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("object \"%s\" of datastore \"%s\" is damaged",
					item->name, ds_name),
			 errdetail("%s", why)));
}

/*
 * Read the objects of datastore name of owner (all of them, or those named
 * in objs, each of which must exist) and hand their bytes to reader.  The
 * caller must be able to read the datastore, and every object must have
 * been written by a trusted role (42501 otherwise, naming the object and
 * its writer, before any bytes are read).
 */
void
oml_ds_read_objects(const char *name, Oid owner, ArrayType *objs,
					const OmlObjectReader *reader)
{
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int64		ds_id;
	int			nitems;
	ReadItem   *items;
	MemoryContext chunkcxt;
	bool		isnull;

	oml_enter(&ctx, true);

	/* One snapshot, current as of now, for the listing and every chunk. */
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	ds_id = oml_ds_find_readable(caller, owner, name);
	values[0] = Int64GetDatum(ds_id);
	if (objs)
	{
		oml_ds_require_objects(ds_id, objs, name);
		values[1] = PointerGetDatum(objs);
	}
	else
		nulls[1] = 'n';

	nitems = oml_spi("SELECT name, id, size, nchunks, compression, writer, trusted"
					 " FROM oml.datastore_object"
					 " WHERE ds_id OPERATOR(pg_catalog.=) $1"
					 " AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($2))"
					 " ORDER BY name COLLATE \"C\"",
					 true, 2, argtypes, values, nulls, -1);
	items = MemoryContextAlloc(ctx.caller_cxt, sizeof(ReadItem) * Max(nitems, 1));
	for (int i = 0; i < nitems; i++)
	{
		ReadItem   *item = &items[i];

		item->name = MemoryContextStrdup(ctx.caller_cxt,
										 TextDatumGetCString(oml_spi_value(i, 0, &isnull)));
		item->id = DatumGetInt64(oml_spi_value(i, 1, &isnull));
		item->size = DatumGetInt64(oml_spi_value(i, 2, &isnull));
		item->nchunks = DatumGetInt32(oml_spi_value(i, 3, &isnull));
		item->compression = MemoryContextStrdup(ctx.caller_cxt,
												TextDatumGetCString(oml_spi_value(i, 4, &isnull)));
		item->writer = DatumGetObjectId(oml_spi_value(i, 5, &isnull));
		item->trusted = oml_object_trusted(DatumGetBool(oml_spi_value(i, 6, &isnull)),
										   item->writer);
	}

	/* The rule, for every object, before any bytes leave the catalog. */
	for (int i = 0; i < nitems; i++)
	{
		if (!items[i].trusted)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("object \"%s\" of datastore \"%s\" was written by role \"%s\", which is not trusted",
							items[i].name, name, oml_role_name(items[i].writer)),
					 errdetail("Inside the server, only objects written by superusers or members of oml_developer are unpickled, since unpickling can run any code as the server's operating system user."),
					 errhint("Load it in a client with oml.ds.load, or have a member of oml_developer save it.")));
	}

	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store chunk",
									 ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < nitems; i++)
	{
		ReadItem   *item = &items[i];
		Oid			chunktypes[2] = {INT8OID, INT4OID};
		Datum		chunkvals[2];
		int64		got = 0;

		oml_run_note_object(owner, name, item->name);
		reader->begin(reader->arg, item->name, item->size, item->compression);
		chunkvals[0] = Int64GetDatum(item->id);
		for (int32 seq = 0; seq < item->nchunks; seq++)
		{
			MemoryContext old;
			bytea	   *data;
			Size		len;

			CHECK_FOR_INTERRUPTS();
			chunkvals[1] = Int32GetDatum(seq);
			if (oml_spi("SELECT data FROM oml.datastore_chunk"
						" WHERE obj_id OPERATOR(pg_catalog.=) $1"
						" AND seq OPERATOR(pg_catalog.=) $2",
						true, 2, chunktypes, chunkvals, NULL, -1) != 1)
				report_damaged(name, item,
							   psprintf("Chunk %d of its %d chunks is missing.",
										seq, item->nchunks));
			old = MemoryContextSwitchTo(chunkcxt);
			data = DatumGetByteaPP(oml_spi_value(0, 0, &isnull));
			len = VARSIZE_ANY_EXHDR(data);
			MemoryContextSwitchTo(old);
			if (got + (int64) len > item->size)
				report_damaged(name, item,
							   psprintf("Its chunks hold more than its recorded size of " INT64_FORMAT " bytes.",
										item->size));
			reader->chunk(reader->arg, VARDATA_ANY(data), len);
			got += len;
			SPI_freetuptable(SPI_tuptable);
			MemoryContextReset(chunkcxt);
		}
		if (got != item->size)
			report_damaged(name, item,
						   psprintf("Its chunks hold " INT64_FORMAT " bytes, but its recorded size is " INT64_FORMAT ".",
									got, item->size));
	}
	MemoryContextDelete(chunkcxt);
	PopActiveSnapshot();
	oml_leave(&ctx);
}

/*
 * State of oml.ds_read while it fills its tuplestore.
 */
typedef struct SqlReadState
{
	ReturnSetInfo *rsinfo;
	char	   *name;			/* current object */
	char	   *compression;
	int32		seq;
} SqlReadState;

/*
 * oml.ds_read: a new object starts.
 */
static void
sql_read_begin(void *arg, const char *name, int64 size, const char *compression)
{
	SqlReadState *st = (SqlReadState *) arg;

	st->name = pstrdup(name);
	st->compression = pstrdup(compression);
	st->seq = 0;
}

/*
 * oml.ds_read: one chunk becomes one row.
 */
static void
sql_read_chunk(void *arg, const char *data, Size len)
{
	SqlReadState *st = (SqlReadState *) arg;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	values[0] = CStringGetTextDatum(st->name);
	values[1] = Int32GetDatum(st->seq++);
	values[2] = CStringGetTextDatum(st->compression);
	values[3] = PointerGetDatum(b);
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
						 values, nulls);
	pfree(b);
}

/*
 * SQL oml.ds_read(ds_name, ds_owner, objs): the bytes of a readable
 * datastore's objects, chunk by chunk, only when every object asked for was
 * written by a trusted role -- what the server would unpickle.
 */
Datum
oml_ds_read(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("datastore", fcinfo, 0);
	Oid			owner = oml_resolve_owner(fcinfo, 1);
	ArrayType  *objs = oml_check_name_array(fcinfo, 2);
	SqlReadState st;
	OmlObjectReader reader = {sql_read_begin, sql_read_chunk, &st};

	InitMaterializedSRF(fcinfo, 0);
	memset(&st, 0, sizeof(st));
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	oml_ds_read_objects(name, owner, objs, &reader);
	return (Datum) 0;
}
