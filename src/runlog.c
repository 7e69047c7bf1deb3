/*-------------------------------------------------------------------------
 *
 * runlog.c
 *	  The run log: with oml_store.log_runs = errors or all, one row per
 *	  pyq* call in oml.pyq_runs, written also when the calling statement
 *	  rolls back.
 *
 * PostgreSQL has no autonomous transactions, so a call does not insert
 * its row itself: at its end it puts the record into a queue in shared
 * memory (oml_store.log_queue_size slots) and wakes the writer of its
 * database, a background worker started on demand (one per database,
 * BGW_NEVER_RESTART) that inserts queued records in its own transactions,
 * prunes rows older than oml_store.log_runs_max_age, and exits when it
 * has been idle for a few seconds.  A call that finds the queue full
 * waits for room (interruptibly), so that a role cannot escape the log by
 * flooding it; a failing call, which is handling an error, waits at most
 * two seconds, and its record is then lost, which the writer reports in
 * the server log.
 * Records still queued when the server crashes or stops are lost, as are
 * those of a database where the extension's 0.3.0 schema is missing, and
 * calls on a hot standby are not logged (nothing can be written there).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "oml_store.h"

PGDLLEXPORT void oml_runlog_worker_main(Datum main_arg);

/* Writers running at a time (one per database); more databases wait. */
#define LOG_MAX_WRITERS 8
/* A failed call waits at most this long for room in the queue. */
#define LOG_ERROR_WAIT_MS 2000
/* A writer exits after this long without records. */
#define LOG_IDLE_MS 3000
/* A writer not seen this long after its launch is taken for failed. */
#define LOG_LAUNCH_TIMEOUT_US INT64CONST(10000000)

typedef struct LogRecord
{
	bool		used;
	uint64		seq;			/* order of queueing */
	Oid			dbid;
	Oid			roleid;
	TimestampTz started;
	double		duration_ms;
	int64		rows_in;
	int64		rows_out;
	int64		script_version; /* 0: unknown */
	bool		resolved;
	int			sqlerrcode;		/* 0: success */
	char		function[16];
	char		role[NAMEDATALEN];
	char		session_role[NAMEDATALEN];
	char		script_owner[NAMEDATALEN];
	char		script_name[OML_NAME_MAXLEN * 4 + 1];
	char		inp_nam[OML_RUN_TEXT_MAX + 1];
	char		objects[OML_RUN_TEXT_MAX + 1];
	char		error[OML_RUN_TEXT_MAX + 1];
	char		detail[OML_RUN_TEXT_MAX + 1];
} LogRecord;

typedef struct LogWriter
{
	Oid			dbid;			/* InvalidOid: free */
	bool		running;		/* false: launched, not yet started */
	bool		signalled;		/* its latch was set since it last took */
	TimestampTz launched;
	PGPROC	   *proc;
} LogWriter;

typedef struct LogShared
{
	LWLock	   *lock;			/* protects everything below */
	ConditionVariable space;	/* broadcast when slots are freed */
	int			nused;
	int			hint;			/* where to look for a free slot */
	uint64		next_seq;
	uint64		lost;			/* records lost since the last report */
	LogWriter	writers[LOG_MAX_WRITERS];
	LogRecord	slots[FLEXIBLE_ARRAY_MEMBER];
} LogShared;

static const struct config_enum_entry log_runs_options[] = {
	{"off", OML_LOG_OFF, false},
	{"errors", OML_LOG_ERRORS, false},
	{"all", OML_LOG_ALL, false},
	{NULL, 0, false}
};

int			oml_log_runs = OML_LOG_OFF;
static int	log_queue_size = 256;
static int	log_max_age = 30 * 24 * 60;

static LogShared *log_shared = NULL;

/*
 * oml_store.log_runs, log_runs_max_age and log_queue_size.
 */
void
oml_log_define_gucs(void)
{
	DefineCustomEnumVariable("oml_store.log_runs",
							 "Which pyq* calls are logged in oml.pyq_runs: off, errors or all.",
							 "Only superusers can change it, so that a role cannot avoid being logged.",
							 &oml_log_runs, OML_LOG_OFF, log_runs_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.log_runs_max_age",
							"Rows of oml.pyq_runs older than this are deleted by the log writer (0: kept).",
							NULL, &log_max_age, 30 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	/* Sizes of shared memory: only while it is being requested. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("oml_store.log_queue_size",
							"Run log records that can wait in shared memory for the writer.",
							NULL, &log_queue_size, 256, 16, 65536,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/*
 * Shared memory of the queue.
 */
Size
oml_log_shmem_size(void)
{
	return add_size(offsetof(LogShared, slots),
					mul_size(log_queue_size, sizeof(LogRecord)));
}

/*
 * Create or attach to the queue (AddinShmemInitLock held).
 */
void
oml_log_shmem_init(void)
{
	bool		found;

	log_shared = ShmemInitStruct("oml_store run log", oml_log_shmem_size(),
								 &found);
	if (!found)
	{
		memset(log_shared, 0, oml_log_shmem_size());
		log_shared->lock = &(GetNamedLWLockTranche("oml_store runs"))[1].lock;
		ConditionVariableInit(&log_shared->space);
	}
}

/*
 * Copy src into a field of size bytes, cut at a character boundary.
 */
static void
copy_text(char *dst, const char *src, int size)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = strlen(src);
	if (len >= size)
		len = pg_mbcliplen(src, len, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Start a writer for this database unless one runs or is starting
 * (log_shared->lock held exclusively; released on return).
 */
static void
ensure_writer(void)
{
	LogWriter  *w = NULL;
	LogWriter  *free_w = NULL;
	TimestampTz now = GetCurrentTimestamp();
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	for (int i = 0; i < LOG_MAX_WRITERS; i++)
	{
		LogWriter  *c = &log_shared->writers[i];

		if (c->dbid == MyDatabaseId)
			w = c;
		else if (c->dbid == InvalidOid && free_w == NULL)
			free_w = c;
	}
	if (w != NULL && w->running)
	{
		PGPROC	   *proc = w->proc;
		bool		wake = !w->signalled;

		/* Once is enough: it takes every record queued when it wakes. */
		w->signalled = true;
		LWLockRelease(log_shared->lock);
		if (wake)
			SetLatch(&proc->procLatch);
		return;
	}
	if (w != NULL && now - w->launched < LOG_LAUNCH_TIMEOUT_US)
	{
		LWLockRelease(log_shared->lock);
		return;					/* starting */
	}
	if (w == NULL)
		w = free_w;
	if (w == NULL)
	{
		/* Every writer is busy with another database: try later. */
		LWLockRelease(log_shared->lock);
		return;
	}
	w->dbid = MyDatabaseId;
	w->running = false;
	w->launched = now;
	w->proc = NULL;
	LWLockRelease(log_shared->lock);

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "oml_store", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "oml_runlog_worker_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "oml_store run log writer for database %u",
			 MyDatabaseId);
	strlcpy(bgw.bgw_type, "oml_store run log writer", BGW_MAXLEN);
	bgw.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	bgw.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		/* No worker slot free: records wait; the next call tries again. */
		LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
		if (w->dbid == MyDatabaseId && !w->running)
			w->dbid = InvalidOid;
		LWLockRelease(log_shared->lock);
	}
}

/*
 * Find a free slot and claim it (lock held), or return NULL.
 */
static LogRecord *
claim_slot(void)
{
	if (log_shared->nused >= log_queue_size)
		return NULL;
	for (int n = 0; n < log_queue_size; n++)
	{
		int			i = (log_shared->hint + n) % log_queue_size;

		if (!log_shared->slots[i].used)
		{
			log_shared->hint = (i + 1) % log_queue_size;
			log_shared->nused++;
			log_shared->slots[i].used = true;
			return &log_shared->slots[i];
		}
	}
	return NULL;
}

/*
 * Queue the record of a call that took ms (edata: its error, NULL for
 * success) for this database's writer.  Looks nothing up in the catalogs,
 * as it runs while an error is being handled.
 */
void
oml_log_enqueue(const OmlRun *run, double ms, ErrorData *edata)
{
	LogRecord  *rec;
	LogRecord  *slot;
	int			waited_ms = 0;

	if (log_shared == NULL || RecoveryInProgress())
		return;
	rec = palloc0(sizeof(LogRecord));
	rec->used = true;
	rec->dbid = MyDatabaseId;
	rec->roleid = GetUserId();
	rec->started = GetCurrentTimestamp() - (TimestampTz) (ms * 1000.0);
	rec->duration_ms = ms;
	rec->rows_in = run->rows_in;
	rec->rows_out = run->rows_out;
	rec->resolved = run->resolved;
	rec->script_version = run->resolved ? run->script_version : 0;
	rec->sqlerrcode = edata ? edata->sqlerrcode : 0;
	copy_text(rec->function, run->function, sizeof(rec->function));
	copy_text(rec->role, run->role_name, sizeof(rec->role));
	copy_text(rec->session_role, run->session_role_name,
			  sizeof(rec->session_role));
	if (run->resolved)
		copy_text(rec->script_owner, run->script_owner_name,
				  sizeof(rec->script_owner));
	else
		copy_text(rec->script_owner, run->scr_owner, sizeof(rec->script_owner));
	copy_text(rec->script_name, run->resolved ? run->script_name : run->scr_name,
			  sizeof(rec->script_name));
	/*
	 * A call nested in a script the caller may only execute has the
	 * script's text as its input query: not the caller's to read.
	 */
	copy_text(rec->inp_nam, run->in_unreadable ? NULL : run->inp_nam,
			  sizeof(rec->inp_nam));
	if (run->objects)
	{
		StringInfo	buf = (StringInfo) run->objects;

		/* oml_run_note_object keeps the list within the field */
		copy_text(rec->objects, buf->data, sizeof(rec->objects) - 1);
		strcat(rec->objects, "]");
	}
	if (edata)
	{
		copy_text(rec->error, edata->message, sizeof(rec->error));
		copy_text(rec->detail, edata->detail, sizeof(rec->detail));
	}

	LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	while ((slot = claim_slot()) == NULL)
	{
		if (edata && waited_ms >= LOG_ERROR_WAIT_MS)
		{
			log_shared->lost++;
			ensure_writer();
			ConditionVariableCancelSleep();
			pfree(rec);
			return;
		}
		ensure_writer();
		ConditionVariableTimedSleep(&log_shared->space, 100, PG_WAIT_EXTENSION);
		waited_ms += 100;
		/* Handling an error, a new one must not replace it. */
		if (!edata)
			CHECK_FOR_INTERRUPTS();
		LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	}
	ConditionVariableCancelSleep();
	rec->seq = log_shared->next_seq++;
	memcpy(slot, rec, sizeof(LogRecord));
	ensure_writer();
	pfree(rec);
}

/* -- the writer ------------------------------------------------------------ */

static int	writer_index = -1;

/*
 * Leave the writers' table when the writer exits, however it exits.
 */
static void
writer_detach(int code, Datum arg)
{
	LogWriter  *w;

	if (writer_index < 0 || log_shared == NULL)
		return;
	LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	w = &log_shared->writers[writer_index];
	if (w->proc == MyProc)
	{
		w->dbid = InvalidOid;
		w->running = false;
		w->proc = NULL;
	}
	LWLockRelease(log_shared->lock);
	writer_index = -1;
}

/*
 * qsort comparator: records in the order they were queued.
 */
static int
record_cmp(const void *a, const void *b)
{
	uint64		sa = ((const LogRecord *) a)->seq;
	uint64		sb = ((const LogRecord *) b)->seq;

	return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/*
 * Take the queued records of this database off the queue into out, in the
 * order they were queued;
 * with none, exit the writers' table if idle (then *leave is set).  Also
 * returns (and clears) the count of lost records.
 */
static int
take_records(LogRecord *out, bool idle, bool *leave, uint64 *lost)
{
	int			n = 0;

	*leave = false;
	LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < log_queue_size; i++)
	{
		LogRecord  *s = &log_shared->slots[i];

		if (s->used && s->dbid == MyDatabaseId)
		{
			memcpy(&out[n++], s, sizeof(LogRecord));
			s->used = false;
			log_shared->nused--;
		}
	}
	*lost = log_shared->lost;
	log_shared->lost = 0;
	if (writer_index >= 0)
		log_shared->writers[writer_index].signalled = false;
	if (n == 0 && idle && writer_index >= 0)
	{
		LogWriter  *w = &log_shared->writers[writer_index];

		w->dbid = InvalidOid;
		w->running = false;
		w->proc = NULL;
		writer_index = -1;
		*leave = true;
	}
	LWLockRelease(log_shared->lock);
	if (n > 0)
		ConditionVariableBroadcast(&log_shared->space);
	qsort(out, n, sizeof(LogRecord), record_cmp);
	return n;
}

/*
 * Insert records into oml.pyq_runs in one statement (arrays of each column,
 * unnested in order) and prune old rows, in one transaction.
 */
static void
write_records(LogRecord *recs, int n)
{
	static const char *insert_sql =
		"INSERT INTO oml.pyq_runs (started, role_id, role_name, function,"
		" script_owner, script_name, script_version, datastore_objects,"
		" inp_nam, rows_in, rows_out, duration_ms, status, sqlstate, error,"
		" error_detail, session_role)"
		" SELECT c1, c2, c3, c4, c5, c6, c7, c8::pg_catalog.jsonb, c9, c10,"
		" c11, c12, c13, c14, c15, c16, c17"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		" pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
		" pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8),"
		" pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),"
		" pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),"
		" pg_catalog.unnest($15), pg_catalog.unnest($16),"
		" pg_catalog.unnest($17)) WITH ORDINALITY"
		" AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14,"
		" c15, c16, c17, ord) ORDER BY ord";
#define LOG_COLS 17
	static const Oid elemtypes[LOG_COLS] = {TIMESTAMPTZOID, OIDOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID,
	FLOAT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Oid			argtypes[LOG_COLS];
	Datum		args[LOG_COLS];
	Datum	   *v[LOG_COLS];
	bool	   *nl[LOG_COLS];
	bool		have_table;
	bool		isnull;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "writing the oml_store run log");

	/*
	 * The table must be the extension's: the writer is a superuser, and a
	 * table of that name made by anyone else (with triggers) must not run.
	 */
	if (SPI_execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_depend d"
					" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					" AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('oml.pyq_runs')::pg_catalog.oid"
					" AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
					" AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e"
					"  WHERE e.extname OPERATOR(pg_catalog.=) 'oml_store')"
					" AND d.deptype OPERATOR(pg_catalog.=) 'e')",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for oml.pyq_runs");
	have_table = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1,
											&isnull));
	if (!have_table)
		ereport(LOG,
				(errmsg("oml_store run log: %d records dropped: database %u has no table oml.pyq_runs of extension oml_store",
						n, MyDatabaseId),
				 errhint("Run ALTER EXTENSION oml_store UPDATE in that database.")));
	else
	{
		for (int c = 0; c < LOG_COLS; c++)
		{
			v[c] = palloc(sizeof(Datum) * n);
			nl[c] = palloc0(sizeof(bool) * n);
		}
		for (int i = 0; i < n; i++)
		{
			LogRecord  *r = &recs[i];

			v[0][i] = TimestampTzGetDatum(r->started);
			v[1][i] = ObjectIdGetDatum(r->roleid);
			v[2][i] = CStringGetTextDatum(r->role);
			v[3][i] = CStringGetTextDatum(r->function);
			v[4][i] = CStringGetTextDatum(r->script_owner);
			nl[4][i] = r->script_owner[0] == '\0';
			v[5][i] = CStringGetTextDatum(r->script_name);
			nl[5][i] = r->script_name[0] == '\0';
			v[6][i] = Int64GetDatum(r->script_version);
			nl[6][i] = !r->resolved;
			v[7][i] = CStringGetTextDatum(r->objects[0] ? r->objects : "[]");
			v[8][i] = CStringGetTextDatum(r->inp_nam);
			nl[8][i] = r->inp_nam[0] == '\0';
			v[9][i] = Int64GetDatum(r->rows_in);
			v[10][i] = Int64GetDatum(r->rows_out);
			v[11][i] = Float8GetDatum(r->duration_ms);
			v[12][i] = CStringGetTextDatum(r->sqlerrcode == 0 ? "ok" :
										   r->sqlerrcode == ERRCODE_QUERY_CANCELED ?
										   "cancelled" :
										   r->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ?
										   "terminated" : "error");
			v[13][i] = CStringGetTextDatum(unpack_sql_state(r->sqlerrcode));
			v[14][i] = CStringGetTextDatum(r->error);
			nl[13][i] = nl[14][i] = r->sqlerrcode == 0;
			v[15][i] = CStringGetTextDatum(r->detail);
			nl[15][i] = r->detail[0] == '\0';
			v[16][i] = CStringGetTextDatum(r->session_role);
		}
		for (int c = 0; c < LOG_COLS; c++)
		{
			int			dims[1] = {n};
			int			lbs[1] = {1};
			int16		typlen;
			bool		typbyval;
			char		typalign;

			get_typlenbyvalalign(elemtypes[c], &typlen, &typbyval, &typalign);
			argtypes[c] = get_array_type(elemtypes[c]);
			args[c] = PointerGetDatum(construct_md_array(v[c], nl[c], 1, dims, lbs,
														 elemtypes[c], typlen,
														 typbyval, typalign));
		}
		if (SPI_execute_with_args(insert_sql, LOG_COLS, argtypes, args, NULL,
								  false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into oml.pyq_runs");
	}
	if (have_table && log_max_age > 0)
	{
		Oid			agetype[1] = {INT4OID};
		Datum		age[1] = {Int32GetDatum(log_max_age)};

		if (SPI_execute_with_args("DELETE FROM oml.pyq_runs WHERE started"
								  " OPERATOR(pg_catalog.<) (pg_catalog.now()"
								  " OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => $1))",
								  1, agetype, age, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not prune oml.pyq_runs");
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Drop the queued records of databases that no longer exist (no writer
 * can connect to them), counted as lost.
 */
static void
purge_dropped_databases(void)
{
	Oid			dbs[LOG_MAX_WRITERS * 8];
	bool		gone[LOG_MAX_WRITERS * 8];
	int			ndbs = 0;
	bool		any = false;

	LWLockAcquire(log_shared->lock, LW_SHARED);
	for (int i = 0; i < log_queue_size && ndbs < lengthof(dbs); i++)
	{
		LogRecord  *r = &log_shared->slots[i];
		bool		seen = false;

		if (!r->used)
			continue;
		for (int k = 0; k < ndbs && !seen; k++)
			seen = dbs[k] == r->dbid;
		if (!seen)
			dbs[ndbs++] = r->dbid;
	}
	LWLockRelease(log_shared->lock);

	StartTransactionCommand();
	for (int k = 0; k < ndbs; k++)
	{
		gone[k] = !SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbs[k]));
		any |= gone[k];
	}
	CommitTransactionCommand();
	if (!any)
		return;

	LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < log_queue_size; i++)
	{
		LogRecord  *r = &log_shared->slots[i];

		for (int k = 0; k < ndbs && r->used; k++)
			if (gone[k] && r->dbid == dbs[k])
			{
				r->used = false;
				log_shared->nused--;
				log_shared->lost++;
			}
	}
	LWLockRelease(log_shared->lock);
	ConditionVariableBroadcast(&log_shared->space);
}

/*
 * The writer of one database: insert queued records until idle.
 */
void
oml_runlog_worker_main(Datum main_arg)
{
	Oid			dbid = DatumGetObjectId(main_arg);
	LogRecord  *recs;
	TimestampTz idle_since = GetCurrentTimestamp();

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (log_shared == NULL)
		proc_exit(0);

	/* Take the entry a backend made for this database. */
	LWLockAcquire(log_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LOG_MAX_WRITERS; i++)
	{
		LogWriter  *w = &log_shared->writers[i];

		if (w->dbid == dbid && !w->running)
		{
			w->running = true;
			w->signalled = false;
			w->proc = MyProc;
			writer_index = i;
			break;
		}
	}
	LWLockRelease(log_shared->lock);
	if (writer_index < 0)
		proc_exit(0);			/* another writer took over */
	/* Also if the database has gone and connecting fails. */
	on_shmem_exit(writer_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET,
					PGC_S_OVERRIDE);
	purge_dropped_databases();

	recs = MemoryContextAllocHuge(TopMemoryContext,
								  sizeof(LogRecord) * (Size) log_queue_size);
	for (;;)
	{
		bool		leave;
		uint64		lost;
		bool		idle;
		int			n;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		idle = TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
										  LOG_IDLE_MS);
		n = take_records(recs, idle, &leave, &lost);
		if (lost > 0)
			ereport(LOG,
					(errmsg("oml_store run log: %llu records were lost: the queue was full when calls failed, or their database was dropped",
							(unsigned long long) lost),
					 errhint("Raise oml_store.log_queue_size.")));
		if (leave)
			break;
		if (n == 0)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 500, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		PG_TRY();
		{
			write_records(recs, n);
		}
		PG_CATCH();
		{
			HOLD_INTERRUPTS();
			EmitErrorReport();
			AbortOutOfAnyTransaction();
			FlushErrorState();
			RESUME_INTERRUPTS();
			ereport(LOG,
					(errmsg("oml_store run log: %d records were lost", n)));
		}
		PG_END_TRY();
		idle_since = GetCurrentTimestamp();
	}
	proc_exit(0);
}
