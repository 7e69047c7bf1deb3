/*-------------------------------------------------------------------------
 *
 * jobworker.c
 *	  The background workers of async jobs: the launcher, the per-database
 *	  maintenance worker and the job worker.
 *
 * The launcher is a static background worker (registered in _PG_init when
 * the library is preloaded), connected to no database.  It sleeps on its
 * latch; backends set it when a transaction that submitted jobs commits,
 * and the postmaster when one of its workers starts or stops.  For each
 * committed job in the shared queue it starts, while a slot is free, a
 * dynamic job worker connected to the job's database as the submitting
 * role (BackgroundWorkerInitializeConnectionByOid), which claims the job
 * (queued -> running), runs the pyq* call through SPI with the submitter's
 * settings, stores the result and records the end.
 *
 * At start-up (also after a crash restart, which clears shared memory) and
 * every minute for the databases it knows, the launcher starts a
 * maintenance worker per database (one at a time, as the bootstrap
 * superuser): it marks jobs whose worker is gone failed (running ones at
 * start-up: the server restarted under them), queues the queued jobs that
 * are not queued in shared memory (after a restart or a full queue),
 * and deletes jobs finished longer ago than oml_store.job_retention and
 * jobs of dropped roles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "jobs.h"
#include "oml_store.h"

PGDLLEXPORT void oml_job_launcher_main(Datum arg);
PGDLLEXPORT void oml_job_maint_main(Datum arg);
PGDLLEXPORT void oml_job_worker_main(Datum arg);

/* How often the launcher has each known database maintained, at most. */
#define OML_MAINT_INTERVAL_MS 60000

/* What a maintenance worker is told, in bgw_extra. */
typedef struct MaintArgs
{
	Oid			dboid;
	bool		startup;
} MaintArgs;

/* The launcher's handles of its workers. */
static BackgroundWorkerHandle *slot_handles[OML_JOB_MAX_WORKERS];
static BackgroundWorkerHandle *maint_handle = NULL;

/*
 * Register a dynamic worker running function fn of this library.
 */
static BackgroundWorkerHandle *
start_worker(const char *fn, const char *name, const char *type, Datum arg,
			 const void *extra, Size extralen)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "oml_store");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "%s", fn);
	snprintf(w.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(w.bgw_type, BGW_MAXLEN, "%s", type);
	w.bgw_main_arg = arg;
	memcpy(w.bgw_extra, extra, extralen);
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		return NULL;
	return handle;
}

/*
 * Note every database one can connect to (templates aside) for its
 * start-up maintenance.
 */
static void
note_all_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		OmlJobDb   *entry;

		if (!db->datallowconn || db->datistemplate)
			continue;
		entry = oml_jobs_note_db(db->oid);
		if (entry)
		{
			entry->need_maint = true;
			entry->startup = true;
			entry->rescan = true;
		}
	}
	LWLockRelease(oml_jobs_shared->lock);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/*
 * Free the slots whose workers have stopped; a job whose worker stopped
 * without recording its end goes to the dead list for maintenance.
 */
static void
reap_workers(void)
{
	OmlJobShared *sh = oml_jobs_shared;
	pid_t		pid;

	for (int i = 0; i < sh->nslots; i++)
	{
		BgwHandleStatus st;

		if (slot_handles[i] == NULL)
			continue;
		st = GetBackgroundWorkerPid(slot_handles[i], &pid);
		if (st != BGWH_STOPPED)
			continue;
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		if (sh->slots[i].state == SLOT_STARTING || sh->slots[i].state == SLOT_CLAIMED)
		{
			OmlJobDb   *db = oml_jobs_note_db(sh->slots[i].job.dboid);

			if (sh->ndead < OML_JOB_MAX_DEAD)
			{
				sh->dead[sh->ndead].job = sh->slots[i].job;
				sh->dead[sh->ndead].never_started = (sh->slots[i].state == SLOT_STARTING);
				sh->ndead++;
			}
			if (db)
				db->need_maint = true;
		}
		memset(&sh->slots[i], 0, sizeof(OmlJobSlot));
		LWLockRelease(sh->lock);
		pfree(slot_handles[i]);
		slot_handles[i] = NULL;
	}
	if (maint_handle && GetBackgroundWorkerPid(maint_handle, &pid) == BGWH_STOPPED)
	{
		pfree(maint_handle);
		maint_handle = NULL;
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		sh->maint_running = false;
		LWLockRelease(sh->lock);
	}
}

/*
 * Start job workers for queued jobs while slots are free.
 */
static void
dispatch_jobs(void)
{
	OmlJobShared *sh = oml_jobs_shared;

	for (;;)
	{
		OmlJobEntry e;
		int			slot = -1;
		char		name[BGW_MAXLEN];

		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		if (sh->qlen > 0)
		{
			for (int i = 0; i < sh->nslots; i++)
				if (sh->slots[i].state == SLOT_FREE && slot_handles[i] == NULL)
				{
					slot = i;
					break;
				}
		}
		if (slot < 0)
		{
			LWLockRelease(sh->lock);
			return;
		}
		e = sh->queue[sh->qhead];
		sh->qhead = (sh->qhead + 1) % OML_JOB_QUEUE_SIZE;
		sh->qlen--;
		sh->slots[slot].state = SLOT_STARTING;
		sh->slots[slot].job = e;
		sh->slots[slot].pid = 0;
		sh->slots[slot].cancel = false;
		LWLockRelease(sh->lock);

		snprintf(name, sizeof(name), "oml_store job " INT64_FORMAT, e.job_id);
		/* The type (pg_stat_activity.backend_type) names no job. */
		slot_handles[slot] = start_worker("oml_job_worker_main", name,
										  "oml_store job worker",
										  Int32GetDatum(slot), &e, sizeof(e));
		if (slot_handles[slot] == NULL)
		{
			/* No background worker slot free: back to the queue's head. */
			LWLockAcquire(sh->lock, LW_EXCLUSIVE);
			memset(&sh->slots[slot], 0, sizeof(OmlJobSlot));
			if (sh->qlen < OML_JOB_QUEUE_SIZE)
			{
				sh->qhead = (sh->qhead + OML_JOB_QUEUE_SIZE - 1) % OML_JOB_QUEUE_SIZE;
				sh->queue[sh->qhead] = e;
				sh->qlen++;
			}
			LWLockRelease(sh->lock);
			return;
		}
	}
}

/*
 * Does database dboid still exist and take connections?
 */
static bool
database_usable(Oid dboid)
{
	HeapTuple	tup;
	bool		ok = false;

	StartTransactionCommand();
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		ok = db->datallowconn && !db->datistemplate;
		ReleaseSysCache(tup);
	}
	CommitTransactionCommand();
	return ok;
}

/*
 * Forget the dead jobs of database dboid, and (unless maintenance was
 * asked for meanwhile) the database itself: it has no jobs to maintain
 * (dropped, or without the extension's job tables).  A submission there
 * notes it again.  Caller holds the lock exclusively.
 */
static void
forget_database(Oid dboid, bool keep_if_asked)
{
	OmlJobShared *sh = oml_jobs_shared;

	for (int i = 0; i < sh->ndead;)
	{
		if (sh->dead[i].job.dboid == dboid)
			sh->dead[i] = sh->dead[--sh->ndead];
		else
			i++;
	}
	for (int i = 0; i < sh->ndbs; i++)
		if (sh->dbs[i].dboid == dboid)
		{
			if (!(keep_if_asked && sh->dbs[i].need_maint))
				sh->dbs[i] = sh->dbs[--sh->ndbs];
			break;
		}
}

/*
 * Start a maintenance worker for a database that asks for one or is due,
 * unless one runs.
 */
static void
start_maintenance(void)
{
	OmlJobShared *sh = oml_jobs_shared;
	TimestampTz now = GetCurrentTimestamp();
	int			interval = OML_MAINT_INTERVAL_MS;
	MaintArgs	args;
	int			pick = -1;

	if (oml_job_retention > 0 && oml_job_retention * 1000L < interval)
		interval = Max(oml_job_retention * 1000, 1000);
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	if (!sh->maint_running)
	{
		for (int i = 0; i < sh->ndbs && pick < 0; i++)
			if (sh->dbs[i].need_maint)
				pick = i;
		for (int i = 0; i < sh->ndbs && pick < 0; i++)
			if (TimestampDifferenceExceeds(sh->dbs[i].last_maint, now, interval))
				pick = i;
	}
	if (pick < 0)
	{
		LWLockRelease(sh->lock);
		return;
	}
	args.dboid = sh->dbs[pick].dboid;
	args.startup = sh->dbs[pick].startup;
	LWLockRelease(sh->lock);

	if (!database_usable(args.dboid))
	{
		/* Dropped (or made a template): forget it and its dead jobs. */
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		forget_database(args.dboid, false);
		LWLockRelease(sh->lock);
		return;
	}

	/*
	 * The flags are cleared before the worker starts, so that whatever asks
	 * for maintenance while it runs (and it sees) is not lost.
	 */
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	sh->maint_running = true;
	for (int i = 0; i < sh->ndbs; i++)
		if (sh->dbs[i].dboid == args.dboid)
		{
			sh->dbs[i].need_maint = false;
			sh->dbs[i].startup = false;
			sh->dbs[i].rescan = false;
			sh->dbs[i].last_maint = now;
		}
	LWLockRelease(sh->lock);
	maint_handle = start_worker("oml_job_maint_main", "oml_store job maintenance",
								"oml_store job maintenance",
								(Datum) 0, &args, sizeof(args));
	if (maint_handle == NULL)
	{
		/* No worker slot free: later, as asked. */
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		sh->maint_running = false;
		for (int i = 0; i < sh->ndbs; i++)
			if (sh->dbs[i].dboid == args.dboid)
			{
				sh->dbs[i].need_maint = true;
				sh->dbs[i].startup = args.startup;
				sh->dbs[i].rescan = true;
			}
		LWLockRelease(sh->lock);
	}
}

/*
 * The launcher's main loop.
 */
void
oml_job_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	oml_jobs_shared->launcher_pid = MyProcPid;
	oml_jobs_shared->launcher_latch = &MyProc->procLatch;
	/* A restarted launcher (not the server): its old workers are lost. */
	for (int i = 0; i < oml_jobs_shared->nslots; i++)
		if (oml_jobs_shared->slots[i].state != SLOT_FREE)
			memset(&oml_jobs_shared->slots[i], 0, sizeof(OmlJobSlot));
	oml_jobs_shared->maint_running = false;
	LWLockRelease(oml_jobs_shared->lock);
	note_all_databases();

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		reap_workers();
		dispatch_jobs();
		start_maintenance();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	oml_jobs_shared->launcher_latch = NULL;
	oml_jobs_shared->launcher_pid = 0;
	LWLockRelease(oml_jobs_shared->lock);
	proc_exit(0);
}

/*
 * Is job_id of this database queued in shared memory or held by a slot?
 * Caller holds the lock.
 */
static bool
job_known(int64 job_id)
{
	OmlJobShared *sh = oml_jobs_shared;

	for (int i = 0; i < sh->nslots; i++)
		if (sh->slots[i].state != SLOT_FREE &&
			sh->slots[i].job.dboid == MyDatabaseId &&
			sh->slots[i].job.job_id == job_id)
			return true;
	for (int i = 0; i < sh->qlen; i++)
	{
		OmlJobEntry *e = &sh->queue[(sh->qhead + i) % OML_JOB_QUEUE_SIZE];

		if (e->dboid == MyDatabaseId && e->job_id == job_id)
			return true;
	}
	return false;
}

/*
 * Mark job_id failed (if it has not ended) with message.
 */
static void
fail_job(int64 job_id, const char *sqlstate, const char *message)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(sqlstate);
	values[2] = CStringGetTextDatum(message);
	oml_spi("UPDATE oml.job SET state = 'failed', ended = pg_catalog.clock_timestamp(),"
			" error_sqlstate = $2, error_message = $3"
			" WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}')",
			false, 3, argtypes, values, NULL, -1);
}

/*
 * Mark failed a job whose worker ended before claiming it, with the
 * reason when it is one its owner can act on (the server log has the
 * worker's own error, which the owner may not read).
 */
static void
fail_unstarted_job(const OmlJobEntry *job)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(job->roleid));
	const char *sqlstate = "58000";
	const char *message = "the job's worker could not start (see the server log)";

	if (!HeapTupleIsValid(tup))
	{
		sqlstate = "42704";
		message = "the job's role no longer exists";
	}
	else
	{
		Form_pg_authid role = (Form_pg_authid) GETSTRUCT(tup);

		if (!role->rolcanlogin)
		{
			sqlstate = "28000";
			message = "the job's role cannot log in (a job's worker connects as the role that submitted it)";
		}
		else if (!role->rolsuper &&
				 pg_database_aclcheck(MyDatabaseId, job->roleid, ACL_CONNECT) != ACLCHECK_OK)
		{
			sqlstate = "42501";
			message = "the job's role may not connect to this database";
		}
		ReleaseSysCache(tup);
	}
	fail_job(job->job_id, sqlstate, message);
}

/*
 * A maintenance worker: see the file header.
 */
void
oml_job_maint_main(Datum arg)
{
	MaintArgs	args;
	OmlContext	ctx;
	OmlDeadJob	dead[OML_JOB_MAX_DEAD];
	int			ndead = 0;
	int			n;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/*
	 * No role: the bootstrap superuser without the LOGIN check, which a
	 * server whose bootstrap superuser is NOLOGIN (a common hardening)
	 * would fail on every run, leaving orphans running and restarted
	 * queues unread.
	 */
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);
	pgstat_report_appname("oml_store job maintenance");

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(get_extension_oid("oml_store", true)) ||
		!OidIsValid(get_namespace_oid("oml", true)) ||
		!OidIsValid(get_relname_relid("job", get_namespace_oid("oml", true))))
	{
		/*
		 * No jobs here (no extension, or an older one): not maintained again
		 * (a connection a minute to each such database, and an entry of the
		 * 64) until a job is submitted here.
		 */
		PopActiveSnapshot();
		CommitTransactionCommand();
		LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
		forget_database(MyDatabaseId, true);
		LWLockRelease(oml_jobs_shared->lock);
		proc_exit(0);
	}

	/* This database's jobs whose workers ended without recording it. */
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < oml_jobs_shared->ndead;)
	{
		if (oml_jobs_shared->dead[i].job.dboid == MyDatabaseId)
		{
			dead[ndead++] = oml_jobs_shared->dead[i];
			oml_jobs_shared->dead[i] = oml_jobs_shared->dead[--oml_jobs_shared->ndead];
		}
		else
			i++;
	}
	LWLockRelease(oml_jobs_shared->lock);

	oml_enter(&ctx, false);
	for (int i = 0; i < ndead; i++)
	{
		if (dead[i].never_started)
			fail_unstarted_job(&dead[i].job);
		else
			fail_job(dead[i].job.job_id, "XX000",
					 "the job's worker process ended unexpectedly");
	}

	/* Running jobs that no worker holds. */
	n = oml_spi("SELECT id FROM oml.job WHERE state OPERATOR(pg_catalog.=) 'running'",
				false, 0, NULL, NULL, NULL, -1);
	if (n > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		int			norphans = 0;

		LWLockAcquire(oml_jobs_shared->lock, LW_SHARED);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(oml_spi_value(i, 0, &isnull));

			if (!job_known(id))
				ids[norphans++] = id;
		}
		LWLockRelease(oml_jobs_shared->lock);
		for (int i = 0; i < norphans; i++)
			fail_job(ids[i], "57P01", args.startup ?
					 "the server restarted while the job was running" :
					 "the job's worker process ended unexpectedly");
	}

	/* Queued jobs that nothing will start otherwise, oldest first. */
	n = oml_spi("SELECT id, owner FROM oml.job WHERE state OPERATOR(pg_catalog.=) 'queued'"
				" ORDER BY id", false, 0, NULL, NULL, NULL, -1);
	if (n > 0)
	{
		LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			OmlJobEntry e;
			OmlJobShared *sh = oml_jobs_shared;

			e.dboid = MyDatabaseId;
			e.job_id = DatumGetInt64(oml_spi_value(i, 0, &isnull));
			e.roleid = DatumGetObjectId(oml_spi_value(i, 1, &isnull));
			if (job_known(e.job_id))
				continue;
			if (sh->qlen >= OML_JOB_QUEUE_SIZE)
			{
				OmlJobDb   *db = oml_jobs_note_db(MyDatabaseId);

				if (db)
					db->rescan = db->need_maint = true;
				break;
			}
			sh->queue[(sh->qhead + sh->qlen) % OML_JOB_QUEUE_SIZE] = e;
			sh->qlen++;
		}
		LWLockRelease(oml_jobs_shared->lock);
	}

	/* Expired jobs, and jobs of roles that no longer exist. */
	if (oml_job_retention > 0)
	{
		Oid			argtypes[1] = {FLOAT8OID};
		Datum		values[1] = {Float8GetDatum((double) oml_job_retention)};

		oml_spi("DELETE FROM oml.job WHERE state OPERATOR(pg_catalog.=) ANY ('{succeeded,failed,cancelled}')"
				" AND ended OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp()"
				" OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))",
				false, 1, argtypes, values, NULL, -1);
	}
	oml_spi("DELETE FROM oml.job j WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_authid a"
			" WHERE a.oid OPERATOR(pg_catalog.=) j.owner::pg_catalog.oid) AND j.state OPERATOR(pg_catalog.<>) 'running'",
			false, 0, NULL, NULL, NULL, -1);
	oml_leave(&ctx);
	PopActiveSnapshot();
	CommitTransactionCommand();
	oml_jobs_wake_launcher();
	proc_exit(0);
}

/*
 * What a job worker runs: the job's row.
 */
typedef struct JobRun
{
	int64		id;
	char	   *func;
	char	   *inp_nam;
	char	   *par_lst;
	int			row_num;
	char	   *grp_col;
	char	   *ord_col;
	int			times_num;
	char	   *scr_name;
	char	   *scr_owner;
	ArrayType  *settings;
} JobRun;

/*
 * A text column of the last SPI result, copied into cxt, or NULL.
 */
static char *
spi_text(int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = oml_spi_value(0, col, &isnull);

	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/*
 * Claim the job (queued -> running) in a transaction of its own; false
 * when it is no longer queued (cancelled or deleted meanwhile).
 */
static bool
claim_job(int64 job_id, JobRun *job)
{
	OmlContext	ctx;
	Oid			argtypes[3] = {INT8OID, INT4OID, OIDOID};
	Datum		values[3] = {Int64GetDatum(job_id), Int32GetDatum(MyProcPid),
	ObjectIdGetDatum(GetSessionUserId())};
	bool		found = false;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	oml_enter(&ctx, true);
	if (oml_spi("UPDATE oml.job SET state = 'running', started = pg_catalog.clock_timestamp(),"
				" worker_pid = $2 WHERE id OPERATOR(pg_catalog.=) $1"
				" AND state OPERATOR(pg_catalog.=) 'queued' AND owner::pg_catalog.oid OPERATOR(pg_catalog.=) $3"
				" RETURNING func, inp_nam, par_lst, row_num, grp_col, ord_col, times_num,"
				" scr_name, scr_owner, settings",
				false, 3, argtypes, values, NULL, -1) == 1)
	{
		bool		isnull;
		Datum		d;

		found = true;
		job->id = job_id;
		job->func = spi_text(0, TopMemoryContext);
		job->inp_nam = spi_text(1, TopMemoryContext);
		job->par_lst = spi_text(2, TopMemoryContext);
		d = oml_spi_value(0, 3, &isnull);
		job->row_num = isnull ? 0 : DatumGetInt32(d);
		job->grp_col = spi_text(4, TopMemoryContext);
		job->ord_col = spi_text(5, TopMemoryContext);
		d = oml_spi_value(0, 6, &isnull);
		job->times_num = isnull ? 0 : DatumGetInt32(d);
		job->scr_name = spi_text(7, TopMemoryContext);
		job->scr_owner = spi_text(8, TopMemoryContext);
		d = oml_spi_value(0, 9, &isnull);
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			job->settings = DatumGetArrayTypePCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	oml_leave(&ctx);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return found;
}

/*
 * Apply the submitter's settings, as SET would in its session.
 */
static void
apply_settings(ArrayType *settings)
{
	Datum	   *items;
	bool	   *nulls;
	int			n;

	deconstruct_array(settings, TEXTOID, -1, false, TYPALIGN_INT,
					  &items, &nulls, &n);
	for (int i = 0; i + 1 < n; i += 2)
		(void) set_config_option(TextDatumGetCString(items[i]),
								 TextDatumGetCString(items[i + 1]),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET,
								 true, 0, false);
}

/*
 * Run the job's pyq* call as this session's role and store its results;
 * returns how many.
 */
static int
run_job(JobRun *job, int64 *total)
{
	Datum		values[6];
	Oid			types[6];
	char		nulls[6];
	int			nargs = 0;
	const char *sql;
	int			rc;
	uint64		nrows;
	SPITupleTable *tuptable;

#define ARG_TEXT(s) \
	do { types[nargs] = TEXTOID; nulls[nargs] = (s) ? ' ' : 'n'; \
		 values[nargs++] = (s) ? CStringGetTextDatum(s) : (Datum) 0; } while (0)
#define ARG_INT(v) \
	do { types[nargs] = INT4OID; nulls[nargs] = ' '; \
		 values[nargs++] = Int32GetDatum(v); } while (0)
	if (strcmp(job->func, "pyqEval") == 0)
	{
		ARG_TEXT(job->par_lst);
		sql = "SELECT name, image FROM oml.pyqEval($1, 'JOB'::pg_catalog.text, $2, $3)";
	}
	else if (strcmp(job->func, "pyqTableEval") == 0)
	{
		ARG_TEXT(job->inp_nam);
		ARG_TEXT(job->par_lst);
		sql = "SELECT name, image FROM oml.pyqTableEval($1, $2, 'JOB'::pg_catalog.text, $3, $4)";
	}
	else if (strcmp(job->func, "pyqRowEval") == 0)
	{
		ARG_TEXT(job->inp_nam);
		ARG_TEXT(job->par_lst);
		ARG_INT(job->row_num);
		sql = "SELECT name, image FROM oml.pyqRowEval($1, $2, 'JOB'::pg_catalog.text, $3, $4, $5)";
	}
	else if (strcmp(job->func, "pyqGroupEval") == 0)
	{
		ARG_TEXT(job->inp_nam);
		ARG_TEXT(job->par_lst);
		ARG_TEXT(job->grp_col);
		ARG_TEXT(job->ord_col);
		sql = "SELECT name, image FROM oml.pyqGroupEval($1, $2, 'JOB'::pg_catalog.text, $3, $4, $5, $6)";
	}
	else
	{
		ARG_TEXT(job->par_lst);
		ARG_INT(job->times_num);
		sql = "SELECT name, image FROM oml.pyqIndexEval($1, 'JOB'::pg_catalog.text, $2, $3, $4)";
	}
	ARG_TEXT(job->scr_name);
	ARG_TEXT(job->scr_owner);
#undef ARG_TEXT
#undef ARG_INT

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	oml_job_top_call = true;
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	oml_job_top_call = false;
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "running job " INT64_FORMAT " failed: %s", job->id,
			 SPI_result_code_string(rc));
	nrows = SPI_processed;
	tuptable = SPI_tuptable;
	*total = 0;
	for (uint64 r = 0; r < nrows; r++)
	{
		bool		isnull;
		Datum		name = SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 1, &isnull);
		char	   *label = isnull ? NULL : TextDatumGetCString(name);
		Datum		image = SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 2, &isnull);
		bytea	   *data;

		if (isnull)
			elog(ERROR, "job " INT64_FORMAT " returned no result bytes", job->id);
		data = DatumGetByteaPP(image);
		*total += VARSIZE_ANY_EXHDR(data);
		oml_job_store_result(job->id, (int) r + 1, label, data);
	}
	SPI_finish();
	return (int) nrows;
}

/*
 * Record how the job ended, in a transaction of its own.
 */
static void
finish_job(int64 job_id, const char *state, int count, int64 size,
		   ErrorData *edata, const char *message)
{
	OmlContext	ctx;
	Oid			argtypes[8] = {INT8OID, TEXTOID, INT4OID, INT8OID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', 'n', 'n', 'n', 'n'};

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = Int32GetDatum(count);
	values[3] = Int64GetDatum(size);
	if (strcmp(state, "succeeded") != 0)
		nulls[2] = nulls[3] = 'n';
	if (edata)
	{
		StringInfoData tb;

		values[4] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
		values[5] = CStringGetTextDatum(message ? message : edata->message);
		nulls[4] = nulls[5] = ' ';
		initStringInfo(&tb);
		if (edata->detail)
			appendStringInfoString(&tb, edata->detail);
		if (edata->context)
			appendStringInfo(&tb, "%s%s", tb.len ? "\n" : "", edata->context);
		if (tb.len)
		{
			values[6] = CStringGetTextDatum(tb.data);
			nulls[6] = ' ';
		}
		if (edata->hint)
		{
			values[7] = CStringGetTextDatum(edata->hint);
			nulls[7] = ' ';
		}
	}
	/* A cancel arriving now must not lose the job's end. */
	HOLD_INTERRUPTS();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	oml_enter(&ctx, true);
	oml_spi("UPDATE oml.job SET state = $2, ended = pg_catalog.clock_timestamp(),"
			" result_count = $3, result_size = $4, error_sqlstate = $5,"
			" error_message = $6, error_traceback = $7, error_hint = $8"
			" WHERE id OPERATOR(pg_catalog.=) $1",
			false, 8, argtypes, values, nulls, -1);
	oml_leave(&ctx);
	PopActiveSnapshot();
	CommitTransactionCommand();
	RESUME_INTERRUPTS();
}

/*
 * Set this worker's slot's state.
 */
static void
set_slot_state(int slot, OmlSlotState state)
{
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	oml_jobs_shared->slots[slot].state = state;
	LWLockRelease(oml_jobs_shared->lock);
}

/*
 * Has pyqJobCancel asked this worker's job to stop?
 */
static bool
slot_cancelled(int slot)
{
	bool		c;

	LWLockAcquire(oml_jobs_shared->lock, LW_SHARED);
	c = oml_jobs_shared->slots[slot].cancel;
	LWLockRelease(oml_jobs_shared->lock);
	return c;
}

/*
 * A job worker: see the file header.
 */
void
oml_job_worker_main(Datum arg)
{
	int			slot = DatumGetInt32(arg);
	OmlJobEntry e;
	JobRun		job;
	MemoryContext cxt;
	int			count = 0;
	int64		total = 0;
	volatile TimestampTz run_start;

	memcpy(&e, MyBgworkerEntry->bgw_extra, sizeof(e));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	LWLockAcquire(oml_jobs_shared->lock, LW_EXCLUSIVE);
	oml_jobs_shared->slots[slot].pid = MyProcPid;
	LWLockRelease(oml_jobs_shared->lock);

	BackgroundWorkerInitializeConnectionByOid(e.dboid, e.roleid, 0);
	/* Visible to every role in pg_stat_activity: no job id. */
	pgstat_report_appname("oml_store job");
	oml_in_job_worker = true;

	if (!claim_job(e.job_id, &job))
	{
		set_slot_state(slot, SLOT_DONE);
		proc_exit(0);
	}
	set_slot_state(slot, SLOT_CLAIMED);
	if (slot_cancelled(slot))
	{
		finish_job(e.job_id, "cancelled", 0, 0, NULL, NULL);
		set_slot_state(slot, SLOT_DONE);
		proc_exit(0);
	}

	cxt = AllocSetContextCreate(TopMemoryContext, "oml_store job", ALLOCSET_DEFAULT_SIZES);
	run_start = GetCurrentTimestamp();
	PG_TRY();
	{
		StartTransactionCommand();
		apply_settings(job.settings);
		PushActiveSnapshot(GetTransactionSnapshot());
		if (oml_job_timeout > 0)
			enable_timeout_after(STATEMENT_TIMEOUT, oml_job_timeout * 1000);
		count = run_job(&job, &total);
		disable_timeout(STATEMENT_TIMEOUT, false);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		timed_out = oml_job_timeout > 0 &&
			TimestampDifferenceExceeds(run_start, GetCurrentTimestamp(),
									   oml_job_timeout * 1000 - 10);
		const char *state = "failed";
		char	   *message = NULL;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		disable_all_timeouts(false);
		QueryCancelPending = false;
		oml_job_top_call = false;
		AbortCurrentTransaction();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && slot_cancelled(slot))
		{
			state = "cancelled";
			message = "cancelled by oml.pyqJobCancel";
		}
		else if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && timed_out)
			message = psprintf("the job ran longer than oml_store.job_timeout (%d s)",
							   oml_job_timeout);
		ereport(LOG,
				(errmsg("oml_store job " INT64_FORMAT " %s: %s", e.job_id,
						state, message ? message : edata->message)));
		finish_job(e.job_id, state, 0, 0, edata, message);
		set_slot_state(slot, SLOT_DONE);
		proc_exit(0);
	}
	PG_END_TRY();

	finish_job(e.job_id, "succeeded", count, total, NULL, NULL);
	set_slot_state(slot, SLOT_DONE);
	proc_exit(0);
}
