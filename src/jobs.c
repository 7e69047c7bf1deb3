/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Async jobs: the settings, the shared memory, submitting a pyq* call
 *	  with "oml_async_flag": true, and the SQL functions pyqJobStatus,
 *	  pyqJobResult, pyqJobCancel and pyqJobDelete.
 *
 * A submission is a row of oml.job, inserted in the caller's transaction:
 * it is noted in a backend-local list and handed to the launcher (the
 * shared queue, then its latch) only when that transaction commits, so a
 * rolled-back submission never runs.  The background workers are in
 * jobworker.c.
 *
 * Only the submitting role (the current user at submission) and superusers
 * see a job; for anyone else it does not exist.  That is decided here, in
 * C, on rows read as the extension owner with a pinned search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "jobs.h"
#include "oml_store.h"
#include "roles.h"

PG_FUNCTION_INFO_V1(oml_pyq_job_status);
PG_FUNCTION_INFO_V1(oml_pyq_job_result);
PG_FUNCTION_INFO_V1(oml_pyq_job_cancel);
PG_FUNCTION_INFO_V1(oml_pyq_job_delete);

OmlJobShared *oml_jobs_shared = NULL;
int			oml_job_workers = 2;
int			oml_job_retention = 86400;
int			oml_job_timeout = 0;

/* Set in a job worker: its own pyq* call runs instead of submitting. */
bool		oml_in_job_worker = false;
bool		oml_job_top_call = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Submissions of the current transaction, handed over at commit. */
static List *pending_jobs = NIL;
static bool xact_callback_registered = false;

/* Settings of the submitter that a job applies (when set to anything). */
static const char *const job_settings[] = {
	"search_path", "TimeZone", "DateStyle", "IntervalStyle",
	"extra_float_digits", "bytea_output", "work_mem", "lc_monetary",
	"lc_numeric", "lc_time", "oml_store.max_output_bytes", NULL
};

/* Bytes of a result per oml.job_result row. */
#define OML_JOB_CHUNK (1024 * 1024)

/*
 * The shared memory's size.
 */
static Size
jobs_shmem_size(void)
{
	return add_size(offsetof(OmlJobShared, slots),
					mul_size(sizeof(OmlJobSlot), oml_job_workers));
}

/*
 * shmem_request_hook: our shared memory and lock.
 */
static void
jobs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(jobs_shmem_size());
	RequestNamedLWLockTranche("oml_store_jobs", 1);
}

/*
 * shmem_startup_hook: find or initialise the shared state.
 */
static void
jobs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	oml_jobs_shared = ShmemInitStruct("oml_store jobs", jobs_shmem_size(), &found);
	if (!found)
	{
		memset(oml_jobs_shared, 0, jobs_shmem_size());
		oml_jobs_shared->lock = &(GetNamedLWLockTranche("oml_store_jobs"))->lock;
		oml_jobs_shared->nslots = oml_job_workers;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Settings, and with shared_preload_libraries the shared memory and the
 * launcher.  Called from _PG_init.
 */
void
oml_jobs_init(void)
{
	BackgroundWorker worker;

	/* A server-start setting can only be made by a preloaded library. */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("oml_store.job_workers",
								"Number of async jobs that run at once.",
								"Each running job is a background worker, counted in max_worker_processes.",
								&oml_job_workers, 2, 0, OML_JOB_MAX_WORKERS,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.job_retention",
							"How long the status and result of a finished async job are kept.",
							"0 keeps them until oml.pyqJobDelete.",
							&oml_job_retention, 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.job_timeout",
							"Longest time an async job may run; 0 means no limit.",
							NULL,
							&oml_job_timeout, 0, 0, INT_MAX / 1000,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;
	if (oml_job_workers + 2 > max_worker_processes)
		ereport(WARNING,
				(errmsg("oml_store.job_workers (%d) leaves fewer than two of max_worker_processes (%d) for the job launcher and other workers",
						oml_job_workers, max_worker_processes),
				 errhint("Raise max_worker_processes or lower oml_store.job_workers.")));

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = jobs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = jobs_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "oml_store");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "oml_job_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "oml_store job launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "oml_store job launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * The entry of database dboid in the shared list, added when missing
 * (NULL when the list is full).  Caller holds the lock exclusively.
 */
OmlJobDb *
oml_jobs_note_db(Oid dboid)
{
	OmlJobShared *sh = oml_jobs_shared;

	for (int i = 0; i < sh->ndbs; i++)
		if (sh->dbs[i].dboid == dboid)
			return &sh->dbs[i];
	if (sh->ndbs >= OML_JOB_MAX_DBS)
		return NULL;
	memset(&sh->dbs[sh->ndbs], 0, sizeof(OmlJobDb));
	sh->dbs[sh->ndbs].dboid = dboid;
	sh->dbs[sh->ndbs].last_maint = GetCurrentTimestamp();
	return &sh->dbs[sh->ndbs++];
}

/*
 * Wake the launcher, if it runs.
 */
void
oml_jobs_wake_launcher(void)
{
	Latch	   *latch = oml_jobs_shared ? oml_jobs_shared->launcher_latch : NULL;

	if (latch)
		SetLatch(latch);
}

/*
 * Transaction callback: hand this transaction's submissions to the
 * launcher at commit; forget them at abort.  A transaction that submitted
 * cannot be prepared (nothing would wake the launcher at COMMIT PREPARED).
 */
static void
jobs_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_jobs == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that submitted an asynchronous job")));
			break;
		case XACT_EVENT_COMMIT:
			LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
			foreach(lc, pending_jobs)
			{
				OmlJobEntry *e = lfirst(lc);
				OmlJobShared *sh = oml_jobs_shared;
				OmlJobDb   *db = oml_jobs_note_db(e->dboid);

				if (sh->qlen < OML_JOB_QUEUE_SIZE)
				{
					sh->queue[(sh->qhead + sh->qlen) % OML_JOB_QUEUE_SIZE] = *e;
					sh->qlen++;
				}
				else if (db)
				{
					/* The maintenance worker finds it in oml.job. */
					db->rescan = true;
					db->need_maint = true;
				}
			}
			LWLockRelease(oml_jobs_shared->lock);
			oml_jobs_wake_launcher();
			pending_jobs = NIL;	/* freed with TopTransactionContext */
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_jobs = NIL;
			break;
		default:
			break;
	}
}

/*
 * JSON scanning for one top-level key of par_lst (see json_flag).
 */
typedef struct FlagScan
{
	const char *key;
	int			depth;
	bool		at_key;			/* the value that follows is key's */
	bool		value;
} FlagScan;

static void
flag_object_start(void *state)
{
	((FlagScan *) state)->depth++;
}

static void
flag_object_end(void *state)
{
	((FlagScan *) state)->depth--;
}

static void
flag_array_start(void *state)
{
	FlagScan   *s = state;

	s->depth++;
	s->at_key = false;
}

static void
flag_array_end(void *state)
{
	((FlagScan *) state)->depth--;
}

static void
flag_field_start(void *state, char *fname, bool isnull)
{
	FlagScan   *s = state;

	s->at_key = (s->depth == 1 && strcmp(fname, s->key) == 0);
}

static void
flag_scalar(void *state, char *token, JsonTokenType tokentype)
{
	FlagScan   *s = state;

	if (!s->at_key || s->depth != 1)
		return;
	s->at_key = false;
	s->value = (tokentype == JSON_TOKEN_TRUE ||
				(tokentype == JSON_TOKEN_STRING && pg_strcasecmp(token, "true") == 0));
}

/*
 * Is key a top-level key of the JSON object par_lst whose value is true
 * (or "true")?  False for text that is not JSON: the runtime reports it.
 */
bool
oml_json_flag(const char *par_lst, const char *key)
{
	FlagScan	scan = {key, 0, false, false};
	JsonSemAction sem;
	JsonLexContext *lex;

	if (par_lst == NULL || strstr(par_lst, key) == NULL)
		return false;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &scan;
	sem.object_start = flag_object_start;
	sem.object_end = flag_object_end;
	sem.array_start = flag_array_start;
	sem.array_end = flag_array_end;
	sem.object_field_start = flag_field_start;
	sem.scalar = flag_scalar;
	lex = makeJsonLexContextCstringLen(unconstify(char *, par_lst),
									   strlen(par_lst), GetDatabaseEncoding(),
									   true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return false;
	return scan.value;
}

/*
 * Should this pyq* call be submitted as a job?  Yes with
 * "oml_async_flag": true, except for the call a job worker makes to run
 * the job itself.
 */
bool
oml_job_should_submit(const char *par_lst)
{
	if (!oml_json_flag(par_lst, "oml_async_flag"))
		return false;
	if (oml_job_top_call)
	{
		oml_job_top_call = false;
		return false;
	}
	return true;
}

/*
 * The submitter's settings as a text[] of names and values.
 */
static Datum
current_settings(void)
{
	Datum		items[2 * lengthof(job_settings)];
	int			n = 0;

	for (int i = 0; job_settings[i]; i++)
	{
		const char *v = GetConfigOption(job_settings[i], true, false);

		if (v == NULL)
			continue;
		items[n++] = CStringGetTextDatum(job_settings[i]);
		items[n++] = CStringGetTextDatum(v);
	}
	return PointerGetDatum(construct_array(items, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Submit the pyq* call req as a job and return its one row: name NULL, id
 * the job id, value {"job_id": id}.
 */
Datum
oml_job_submit(FunctionCallInfo fcinfo, const OmlJobRequest *req)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			role = GetUserId();
	OmlContext	ctx;
	OmlScript	scr;
	HeapTuple	tup;
	bool		canlogin;
	int64		job_id;
	bool		isnull;
	Oid			argtypes[12] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[12];
	char		nulls[12];
	Datum		row[5];
	bool		rownulls[5] = {true, false, false, true, true};
	MemoryContext oldcxt;

	if (oml_jobs_shared == NULL || oml_job_workers == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("asynchronous jobs are not available"),
				 oml_jobs_shared == NULL ?
				 errdetail("The oml_store library was not loaded through shared_preload_libraries.") :
				 errdetail("oml_store.job_workers is 0."),
				 errhint("Add oml_store to shared_preload_libraries (and set oml_store.job_workers above 0) in postgresql.conf and restart the server, or run the call without oml_async_flag.")));
	if (req->out_fmt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an asynchronous call returns its job, not relational output"),
				 errhint("Submit with out_fmt 'JSON' and fetch rows later with oml.pyqJobResult(job_id, NULL::record) AS t(...).")));

	/* The worker connects as this role, which must be allowed to log in. */
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", role);
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!canlogin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot submit asynchronous jobs", oml_role_name(role)),
				 errdetail("A job runs in a background worker connected as the submitting role, which must have LOGIN."),
				 errhint("Submit as a role that can log in, not after SET ROLE to one that cannot.")));

	/* Errors a run would give at once: a missing or unreadable script. */
	oml_script_find(req->scr_name, req->scr_owner, &scr);
	if (scr.sandbox || oml_sandbox_all)
		oml_sandboxed_job_refused(req->scr_name);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = ObjectIdGetDatum(role);
	values[1] = CStringGetTextDatum(req->func);
#define OPT_TEXT(i, s) \
	do { if ((s) == NULL) nulls[i] = 'n'; else values[i] = CStringGetTextDatum(s); } while (0)
	OPT_TEXT(2, req->inp_nam);
	OPT_TEXT(3, req->par_lst);
	OPT_TEXT(4, req->out_fmt);
	values[5] = Int32GetDatum(req->row_num);
	if (req->row_num == 0)
		nulls[5] = 'n';
	OPT_TEXT(6, req->grp_col);
	OPT_TEXT(7, req->ord_col);
	values[8] = Int32GetDatum(req->times_num);
	if (req->times_num == 0)
		nulls[8] = 'n';
	OPT_TEXT(9, req->scr_name);
	OPT_TEXT(10, req->scr_owner);
#undef OPT_TEXT
	values[11] = current_settings();

	oml_enter(&ctx, true);
	oml_spi("INSERT INTO oml.job (owner, func, inp_nam, par_lst, out_fmt, row_num,"
			" grp_col, ord_col, times_num, scr_name, scr_owner, settings)"
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
			false, 12, argtypes, values, nulls, 1);
	job_id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	oml_leave(&ctx);

	if (!xact_callback_registered)
	{
		RegisterXactCallback(jobs_xact_callback, NULL);
		xact_callback_registered = true;
	}
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	{
		OmlJobEntry *e = palloc(sizeof(OmlJobEntry));

		e->dboid = MyDatabaseId;
		e->roleid = role;
		e->job_id = job_id;
		pending_jobs = lappend(pending_jobs, e);
	}
	MemoryContextSwitchTo(oldcxt);

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != 5)
		elog(ERROR, "pyq* function with out_fmt must return five columns");
	row[0] = (Datum) 0;
	row[1] = Int32GetDatum((int32) job_id);
	if (job_id > PG_INT32_MAX)
		rownulls[1] = true;
	row[2] = CStringGetTextDatum(psprintf("{\"job_id\": " INT64_FORMAT "}", job_id));
	row[3] = row[4] = (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rownulls);
	return (Datum) 0;
}

/*
 * A job as its functions see it.
 */
typedef struct JobInfo
{
	int64		id;
	Oid			owner;
	char	   *state;
	char	   *par_lst;
	char	   *error_message;
} JobInfo;

/*
 * Read job job_id, which the caller must be allowed to see (its submitter
 * or a superuser): otherwise, as when there is no such job, an error.
 * lock: FOR UPDATE.
 */
static void
find_job(int64 job_id, bool lock, JobInfo *job)
{
	OmlContext	ctx;
	Oid			argtypes[3] = {INT8OID, OIDOID, BOOLOID};
	Datum		values[3] = {Int64GetDatum(job_id), ObjectIdGetDatum(GetUserId()),
	BoolGetDatum(superuser())};
	bool		isnull;
	bool		found = false;

	/*
	 * Only rows the caller may see are read, and locked: locking another
	 * role's job would make this call wait on its holder, which tells that
	 * the job exists.
	 */
	oml_enter(&ctx, true);
	if (oml_spi(lock ?
				"SELECT owner::pg_catalog.oid, state, par_lst, error_message FROM oml.job"
				" WHERE id OPERATOR(pg_catalog.=) $1"
				" AND (owner::pg_catalog.oid OPERATOR(pg_catalog.=) $2 OR $3) FOR UPDATE" :
				"SELECT owner::pg_catalog.oid, state, par_lst, error_message FROM oml.job"
				" WHERE id OPERATOR(pg_catalog.=) $1"
				" AND (owner::pg_catalog.oid OPERATOR(pg_catalog.=) $2 OR $3)",
				false, 3, argtypes, values, NULL, -1) == 1)
	{
		Oid			owner = DatumGetObjectId(oml_spi_value(0, 0, &isnull));

		if (owner == ctx.save_userid || superuser_arg(ctx.save_userid))
		{
			MemoryContext old = MemoryContextSwitchTo(ctx.caller_cxt);

			found = true;
			job->id = job_id;
			job->owner = owner;
			job->state = TextDatumGetCString(oml_spi_value(0, 1, &isnull));
			job->par_lst = NULL;
			job->error_message = NULL;
			{
				Datum		d = oml_spi_value(0, 2, &isnull);

				if (!isnull)
					job->par_lst = TextDatumGetCString(d);
				d = oml_spi_value(0, 3, &isnull);
				if (!isnull)
					job->error_message = TextDatumGetCString(d);
			}
			MemoryContextSwitchTo(old);
		}
	}
	oml_leave(&ctx);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id),
				 errhint("oml.user_pyq_jobs lists your jobs.")));
}

/*
 * SQL oml.pyqJobStatus(job_id): one row describing the job.
 */
Datum
oml_pyq_job_status(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobInfo		job;
	OmlContext	ctx;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	find_job(job_id, false, &job);
	InitMaterializedSRF(fcinfo, 0);
	oml_enter(&ctx, true);
	oml_spi("SELECT id, pg_catalog.pg_get_userbyid(owner::pg_catalog.oid)::pg_catalog.text, state,"
			" func, scr_name, scr_owner, submitted, started, ended, result_count,"
			" result_size, error_sqlstate, error_message, error_traceback, error_hint"
			" FROM oml.job WHERE id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi_to_tuplestore(fcinfo);
	oml_leave(&ctx);
	return (Datum) 0;
}

/*
 * Reads a job's stored results one by one for oml_pyq_emit_stored.
 */
typedef struct ResultReader
{
	int64		job_id;
	int			nresults;
	int			next;
	int		   *seqs;
	char	  **names;
} ResultReader;

/*
 * The next stored result: its label and its bytes, in the caller's memory.
 */
static bool
next_result(void *arg, char **label, bytea **data)
{
	ResultReader *r = arg;
	OmlContext	ctx;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	Size		total = 0;
	int			n;
	bytea	   *out;
	bytea	  **chunks;
	char	   *p;

	if (r->next >= r->nresults)
		return false;
	values[0] = Int64GetDatum(r->job_id);
	values[1] = Int32GetDatum(r->seqs[r->next]);
	*label = r->names[r->next];
	r->next++;
	oml_enter(&ctx, true);
	n = oml_spi("SELECT data FROM oml.job_result WHERE job_id OPERATOR(pg_catalog.=) $1"
				" AND seq OPERATOR(pg_catalog.=) $2 ORDER BY chunk",
				true, 2, argtypes, values, NULL, -1);
	chunks = palloc(sizeof(bytea *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		chunks[i] = DatumGetByteaPP(oml_spi_value(i, 0, &isnull));
		total += VARSIZE_ANY_EXHDR(chunks[i]);
	}
	if (total > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a result of job " INT64_FORMAT " is too large to fetch", r->job_id)));
	out = MemoryContextAllocHuge(ctx.caller_cxt, total + VARHDRSZ);
	SET_VARSIZE(out, total + VARHDRSZ);
	p = VARDATA(out);
	for (int i = 0; i < n; i++)
	{
		memcpy(p, VARDATA_ANY(chunks[i]), VARSIZE_ANY_EXHDR(chunks[i]));
		p += VARSIZE_ANY_EXHDR(chunks[i]);
	}
	oml_leave(&ctx);
	*data = out;
	return true;
}

/*
 * SQL oml.pyqJobResult(job_id, out_fmt): the result of a succeeded job in
 * any out_fmt, as the synchronous call would have returned it.
 */
Datum
oml_pyq_job_result(PG_FUNCTION_ARGS)
{
	int64		job_id;
	JobInfo		job;
	ResultReader reader;
	OmlContext	ctx;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			n;

	oml_require_schema_version();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job_id must not be null")));
	job_id = PG_GETARG_INT64(0);
	find_job(job_id, false, &job);
	if (strcmp(job.state, "succeeded") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " has no result: it is %s", job_id, job.state),
				 job.error_message ? errdetail("The job's error: %s", job.error_message) : 0,
				 (strcmp(job.state, "queued") == 0 || strcmp(job.state, "running") == 0) ?
				 errhint("Fetch it when oml.pyqJobStatus shows the state succeeded.") :
				 errhint("oml.pyqJobStatus shows the job's error.")));

	memset(&reader, 0, sizeof(reader));
	reader.job_id = job_id;
	values[0] = Int64GetDatum(job_id);
	oml_enter(&ctx, true);
	n = oml_spi("SELECT seq, name FROM oml.job_result WHERE job_id OPERATOR(pg_catalog.=) $1"
				" AND chunk OPERATOR(pg_catalog.=) 0 ORDER BY seq",
				true, 1, argtypes, values, NULL, -1);
	reader.nresults = n;
	reader.seqs = MemoryContextAlloc(ctx.caller_cxt, sizeof(int) * (n + 1));
	reader.names = MemoryContextAlloc(ctx.caller_cxt, sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d;

		reader.seqs[i] = DatumGetInt32(oml_spi_value(i, 0, &isnull));
		d = oml_spi_value(i, 1, &isnull);
		reader.names[i] = isnull ? NULL :
			MemoryContextStrdup(ctx.caller_cxt, TextDatumGetCString(d));
	}
	oml_leave(&ctx);

	oml_pyq_emit_stored(fcinfo, 1, oml_json_flag(job.par_lst, "oml_graphics_flag"),
						next_result, &reader);
	return (Datum) 0;
}

/*
 * The slot running job job_id of this database, or -1.  Caller holds the
 * lock.
 */
static int
job_slot(int64 job_id)
{
	for (int i = 0; i < oml_jobs_shared->nslots; i++)
	{
		OmlJobSlot *s = &oml_jobs_shared->slots[i];

		if (s->state != SLOT_FREE && s->state != SLOT_DONE &&
			s->job.dboid == MyDatabaseId && s->job.job_id == job_id)
			return i;
	}
	return -1;
}

/*
 * Ask the worker of a running job to stop, and wait (up to 5 s) until it
 * has.  Returns false when no worker runs the job.
 */
static bool
stop_running_job(int64 job_id)
{
	int			slot;
	pid_t		pid = 0;

	if (oml_jobs_shared == NULL)
		return false;
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	slot = job_slot(job_id);
	if (slot >= 0)
	{
		oml_jobs_shared->slots[slot].cancel = true;
		pid = oml_jobs_shared->slots[slot].pid;
	}
	LWLockRelease(oml_jobs_shared->lock);
	if (slot < 0)
		return false;
	if (pid != 0)
		kill(pid, SIGINT);
	for (int i = 0; i < 500; i++)
	{
		bool		gone;

		LWLockAcquire(oml_jobs_shared->lock, LW_SHARED);
		gone = job_slot(job_id) < 0;
		if (!gone && pid == 0 && oml_jobs_shared->slots[slot].pid != 0)
		{
			pid = oml_jobs_shared->slots[slot].pid;
			kill(pid, SIGINT);
		}
		LWLockRelease(oml_jobs_shared->lock);
		if (gone)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * Cancel the job if it is in state (queued, or running with no worker:
 * one restored from a dump, or whose worker is gone before maintenance
 * noticed), recording why; true when it was.  A job that a worker claims
 * keeps its slot until the worker has recorded its end, so one still
 * running after stop_running_job found no slot has no worker.
 */
static bool
cancel_in_state(int64 job_id, const char *state, const char *why)
{
	OmlContext	ctx;
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	int			n;

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = CStringGetTextDatum(why);
	oml_enter(&ctx, true);
	n = oml_spi("UPDATE oml.job SET state = 'cancelled', ended = pg_catalog.clock_timestamp(),"
				" error_sqlstate = '57014', error_message = $3"
				" WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) $2",
				false, 3, argtypes, values, NULL, -1);
	oml_leave(&ctx);
	return n == 1;
}

/*
 * SQL oml.pyqJobCancel(job_id): stop a queued or running job.  Returns
 * the job's state afterwards as this transaction sees it ('cancelled', or
 * how it ended when it had finished already).
 */
Datum
oml_pyq_job_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobInfo		job;

	find_job(job_id, false, &job);
	if (strcmp(job.state, "queued") == 0 &&
		cancel_in_state(job_id, "queued",
						"cancelled by oml.pyqJobCancel before it started"))
		PG_RETURN_TEXT_P(cstring_to_text("cancelled"));
	if (stop_running_job(job_id))
		PG_RETURN_TEXT_P(cstring_to_text("cancelled"));
	if (cancel_in_state(job_id, "running",
						"cancelled by oml.pyqJobCancel while no worker was running it"))
		PG_RETURN_TEXT_P(cstring_to_text("cancelled"));
	/* It may have ended meanwhile: the newest state this statement sees. */
	CommandCounterIncrement();
	find_job(job_id, false, &job);
	PG_RETURN_TEXT_P(cstring_to_text(job.state));
}

/*
 * SQL oml.pyqJobDelete(job_id): delete a job that is not running, with its
 * result.  A queued job is deleted before it runs.
 */
Datum
oml_pyq_job_delete(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobInfo		job;
	OmlContext	ctx;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	find_job(job_id, true, &job);
	if (strcmp(job.state, "running") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("job " INT64_FORMAT " is running", job_id),
				 errhint("Cancel it first with oml.pyqJobCancel.")));
	oml_enter(&ctx, true);
	oml_spi("DELETE FROM oml.job WHERE id OPERATOR(pg_catalog.=) $1",
			false, 1, argtypes, values, NULL, 1);
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * Store one result of a running job (jobworker.c): data in chunks.
 */
void
oml_job_store_result(int64 job_id, int seq, const char *name, bytea *data)
{
	OmlContext	ctx;
	Oid			argtypes[5] = {INT8OID, INT4OID, TEXTOID, INT4OID, BYTEAOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Size		len = VARSIZE_ANY_EXHDR(data);
	const char *p = VARDATA_ANY(data);
	int			chunk = 0;

	values[0] = Int64GetDatum(job_id);
	values[1] = Int32GetDatum(seq);
	if (name)
		values[2] = CStringGetTextDatum(name);
	else
		nulls[2] = 'n';
	oml_enter(&ctx, true);
	do
	{
		Size		n = Min(len, OML_JOB_CHUNK);
		bytea	   *b = palloc(n + VARHDRSZ);

		CHECK_FOR_INTERRUPTS();
		SET_VARSIZE(b, n + VARHDRSZ);
		memcpy(VARDATA(b), p, n);
		values[3] = Int32GetDatum(chunk++);
		values[4] = PointerGetDatum(b);
		oml_spi("INSERT INTO oml.job_result (job_id, seq, name, chunk, data)"
				" VALUES ($1, $2, $3, $4, $5)",
				false, 5, argtypes, values, nulls, 1);
		pfree(b);
		p += n;
		len -= n;
	} while (len > 0);
	oml_leave(&ctx);
}
