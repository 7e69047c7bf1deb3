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
#include "utils/resowner.h"
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
 * Where a reader is in the chunks of one object (see oml_ds_next_chunk).
 */
struct OmlChunkStream
{
	const char *ds_name;
	const ReadItem *item;
	Snapshot	snapshot;		/* the one the objects were listed from */
	int32		seq;			/* next chunk to read */
	int64		got;			/* bytes handed out so far */
	bool		kept;			/* of a kept version (dsversion.c) */
	MemoryContext cxt;			/* holds the current chunk */
};

/*
 * The next chunk of the object being read: *data and *len get its bytes
 * (valid until the next call), or false at the end of the object.  Reads
 * as the extension owner with the search_path pinned, from the snapshot the
 * objects were listed from, whatever the caller did in between.  A missing
 * chunk, or bytes beyond the recorded size, is an error (XX001).
 */
bool
oml_ds_next_chunk(OmlChunkStream *stream, const char **data, Size *len)
{
	const ReadItem *item = stream->item;
	OmlContext	ctx;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	bool		isnull;
	bytea	   *chunk;
	MemoryContext old;
	Size		n;

	MemoryContextReset(stream->cxt);
	*data = NULL;
	*len = 0;
	if (stream->seq >= item->nchunks)
		return false;
	CHECK_FOR_INTERRUPTS();

	oml_enter(&ctx, true);
	PushActiveSnapshot(stream->snapshot);
	values[0] = Int64GetDatum(item->id);
	values[1] = Int32GetDatum(stream->seq);
	if (oml_spi(stream->kept ?
				"SELECT data FROM oml.datastore_version_chunk"
				" WHERE obj_id OPERATOR(pg_catalog.=) $1"
				" AND seq OPERATOR(pg_catalog.=) $2" :
				"SELECT data FROM oml.datastore_chunk"
				" WHERE obj_id OPERATOR(pg_catalog.=) $1"
				" AND seq OPERATOR(pg_catalog.=) $2",
				true, 2, argtypes, values, NULL, -1) != 1)
		report_damaged(stream->ds_name, item,
					   psprintf("Chunk %d of its %d chunks is missing.",
								stream->seq, item->nchunks));
	/* A copy outside SPI's memory, which oml_leave frees. */
	old = MemoryContextSwitchTo(stream->cxt);
	chunk = DatumGetByteaPCopy(oml_spi_value(0, 0, &isnull));
	MemoryContextSwitchTo(old);
	PopActiveSnapshot();
	oml_leave(&ctx);

	n = VARSIZE_ANY_EXHDR(chunk);
	if (stream->got + (int64) n > item->size)
		report_damaged(stream->ds_name, item,
					   psprintf("Its chunks hold more than its recorded size of " INT64_FORMAT " bytes.",
								item->size));
	stream->seq++;
	stream->got += n;
	*data = VARDATA_ANY(chunk);
	*len = n;
	return true;
}

/*
 * Read the objects of datastore name of owner (all of them, or those named
 * in objs, each of which must exist) and hand each to reader, which pulls
 * its bytes with oml_ds_next_chunk.  The caller must be able to read the
 * datastore, and every object must have been written by a trusted role
 * (42501 otherwise, naming the object and its writer, before any bytes are
 * read).  The reader runs as the caller; every chunk is read from the
 * snapshot the objects were listed from.
 */
static void
read_objects(const char *name, Oid owner, ArrayType *objs,
			 const OmlObjectReader *reader, bool require_trusted)
{
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[3] = {INT8OID, TEXTARRAYOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		ds_id;
	int32		version;
	int32		logged_version;
	int			nitems;
	ReadItem   *items;
	OmlChunkStream stream;
	ResourceOwner owner_at_start = CurrentResourceOwner;
	Snapshot	snapshot;
	bool		isnull;

	oml_enter(&ctx, true);

	/* One snapshot, current as of now, for the listing and every chunk. */
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = RegisterSnapshotOnOwner(GetActiveSnapshot(), owner_at_start);

	/* The in-server loader may honour a usage grant (registry.c). */
	ds_id = oml_ds_find_loadable(caller, owner, name);
	/* A kept version, when the caller asked for one (dsversion.c). */
	version = oml_ds_version_resolve(ds_id, name);
	values[0] = Int64GetDatum(ds_id);
	values[2] = Int32GetDatum(version);
	if (objs)
	{
		if (version == 0)
			oml_ds_require_objects(ds_id, objs, name);
		values[1] = PointerGetDatum(objs);
	}
	else
		nulls[1] = 'n';
	if (objs && version != 0 &&
		oml_spi("SELECT n FROM pg_catalog.unnest($2) AS n WHERE NOT EXISTS"
				" (SELECT FROM oml.datastore_version_object o"
				" WHERE o.ds_id OPERATOR(pg_catalog.=) $1"
				" AND o.version OPERATOR(pg_catalog.=) $3"
				" AND o.name OPERATOR(pg_catalog.=) n) LIMIT 1",
				true, 3, argtypes, values, nulls, -1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("object \"%s\" does not exist in version %d of datastore \"%s\"",
						TextDatumGetCString(oml_spi_value(0, 0, &isnull)),
						version, name)));

	nitems = oml_spi(version == 0 ?
					 "SELECT name, id, size, nchunks, compression, writer, trusted"
					 " FROM oml.datastore_object"
					 " WHERE ds_id OPERATOR(pg_catalog.=) $1"
					 " AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($2))"
					 " AND $3 IS NOT NULL"
					 " ORDER BY name COLLATE \"C\"" :
					 "SELECT name, id, size, nchunks, compression,"
					 " COALESCE((SELECT r.oid FROM pg_catalog.pg_roles r"
					 "  WHERE r.rolname OPERATOR(pg_catalog.=) writer), 0), trusted"
					 " FROM oml.datastore_version_object"
					 " WHERE ds_id OPERATOR(pg_catalog.=) $1"
					 " AND version OPERATOR(pg_catalog.=) $3"
					 " AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($2))"
					 " ORDER BY name COLLATE \"C\"",
					 true, 3, argtypes, values, nulls, -1);
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

	/*
	 * For the sandbox: do objects of others' code meet objects granted for
	 * usage in one child (sandbox.c)?
	 */
	if (!require_trusted)
	{
		Oid			script_owner = oml_registry_running_owner();
		bool		untrusted = false;
		bool		by_usage;

		for (int i = 0; i < nitems; i++)
			if (!items[i].trusted && items[i].writer != script_owner)
				untrusted = true;
		if (oml_spi("SELECT acl FROM oml.datastore WHERE id OPERATOR(pg_catalog.=) $1",
					true, 1, argtypes, values, NULL, -1) != 1)
			elog(ERROR, "datastore " INT64_FORMAT " vanished", ds_id);
		{
			Datum		acl = oml_spi_value(0, 0, &isnull);

			by_usage = !oml_role_can_read(caller, owner,
										  isnull ? NULL : DatumGetAclP(acl));
		}
		oml_sandbox_note_load(name, untrusted, by_usage);
	}

	/* The rule, for every object, before any bytes leave the catalog. */
	for (int i = 0; i < nitems; i++)
	{
		if (require_trusted && !items[i].trusted)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("object \"%s\" of datastore \"%s\" was written by role \"%s\", which is not trusted",
							items[i].name, name, oml_role_name(items[i].writer)),
					 errdetail("Inside the server, only objects written by superusers or members of oml_developer are unpickled, since unpickling can run any code as the server's operating system user."),
					 errhint("Load it in a client with oml.ds.load, or have a member of oml_developer save it.")));
	}
	/*
	 * For the run log: the version read, a kept one or the current one of
	 * a datastore that has versions (0: it has none).
	 */
	logged_version = version;
	if (version == 0 && oml_log_runs != OML_LOG_OFF &&
		oml_spi("SELECT d.version FROM oml.datastore d"
				" WHERE d.id OPERATOR(pg_catalog.=) $1 AND (d.versioned OR EXISTS"
				" (SELECT FROM oml.datastore_version k"
				"  WHERE k.ds_id OPERATOR(pg_catalog.=) d.id))",
				true, 1, argtypes, values, NULL, -1) == 1)
		logged_version = DatumGetInt32(oml_spi_value(0, 0, &isnull));
	PopActiveSnapshot();
	oml_leave(&ctx);

	memset(&stream, 0, sizeof(stream));
	stream.ds_name = name;
	stream.snapshot = snapshot;
	stream.kept = (version != 0);
	stream.cxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store chunk",
									   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < nitems; i++)
	{
		ReadItem   *item = &items[i];
		const char *data;
		Size		len;

		oml_run_note_object(owner, name, item->name, logged_version);
		stream.item = item;
		stream.seq = 0;
		stream.got = 0;
		reader->object(reader->arg, item->name, item->size, item->compression,
					   &stream);
		/* What the reader left unread must still add up. */
		while (oml_ds_next_chunk(&stream, &data, &len))
			;
		if (stream.got != item->size)
			report_damaged(name, item,
						   psprintf("Its chunks hold " INT64_FORMAT " bytes, but its recorded size is " INT64_FORMAT ".",
									stream.got, item->size));
	}
	MemoryContextDelete(stream.cxt);
	UnregisterSnapshotFromOwner(snapshot, owner_at_start);
}

/*
 * Read the objects of a datastore for unpickling in the server: every one
 * must have been written by a trusted role.
 */
void
oml_ds_read_objects(const char *name, Oid owner, ArrayType *objs,
					const OmlObjectReader *reader)
{
	read_objects(name, owner, objs, reader, true);
}

/*
 * Read the objects of a datastore the caller may read, whoever wrote them:
 * for unpickling in the sandbox (sandbox.c), where it cannot hurt the
 * server.
 */
void
oml_ds_read_readable(const char *name, Oid owner, ArrayType *objs,
					 const OmlObjectReader *reader)
{
	read_objects(name, owner, objs, reader, false);
}

/*
 * State of oml.ds_read while it fills its tuplestore.
 */
typedef struct SqlReadState
{
	ReturnSetInfo *rsinfo;
} SqlReadState;

/*
 * oml.ds_read: each chunk of an object becomes one row.
 */
static void
sql_read_object(void *arg, const char *name, int64 size,
				const char *compression, OmlChunkStream *stream)
{
	SqlReadState *st = (SqlReadState *) arg;
	const char *data;
	Size		len;
	int32		seq = 0;

	while (oml_ds_next_chunk(stream, &data, &len))
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		bytea	   *b = palloc(VARHDRSZ + len);

		SET_VARSIZE(b, VARHDRSZ + len);
		memcpy(VARDATA(b), data, len);
		values[0] = CStringGetTextDatum(name);
		values[1] = Int32GetDatum(seq++);
		values[2] = CStringGetTextDatum(compression);
		values[3] = PointerGetDatum(b);
		tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
							 values, nulls);
		pfree(b);
	}
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
	OmlObjectReader reader = {sql_read_object, &st};

	InitMaterializedSRF(fcinfo, 0);
	memset(&st, 0, sizeof(st));
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	oml_ds_read_objects(name, owner, objs, &reader);
	return (Datum) 0;
}
