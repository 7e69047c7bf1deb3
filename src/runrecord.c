/*-------------------------------------------------------------------------
 *
 * runrecord.c
 *	  The record of one pyq* call: when it started, which script (and
 *	  version) it ran, the datastore objects it loaded, rows in and out,
 *	  how it ended.  At the end of the call the record goes to the
 *	  statistics (runstats.c) and, per oml_store.log_runs, to the run log
 *	  (runlog.c).  Also the shared memory hooks both need.
 *
 * Calls nest (a script may run another through oml.sql): each call has
 * its own record on its C stack, and the innermost is current.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/json.h"

#include "oml_store.h"

static OmlRun *current_run = NULL;
static bool exit_callback_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Ask for the shared memory of the statistics and the run log queue.
 */
static void
runs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(oml_stat_shmem_size(),
									oml_log_shmem_size()));
	RequestNamedLWLockTranche("oml_store runs", 2);
}

/*
 * Set up (or, in a new backend, find) that shared memory.
 */
static void
runs_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	oml_stat_shmem_init();
	oml_log_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Settings, and with shared_preload_libraries the shared memory hooks.
 */
void
oml_runs_init(void)
{
	oml_stat_define_gucs();
	oml_log_define_gucs();
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = runs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = runs_shmem_startup;
}

/*
 * A monotonic clock in nanoseconds.
 */
static inline int64
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Calls are timed in ticks of the CPU's time-stamp counter where there is
 * one (x86: a few nanoseconds to read, where clock_gettime took 20 to 80 on
 * the machine measured, i.e. up to 3% of a trivial call for two readings),
 * converted to time with the rate seen since the backend's first call;
 * elsewhere a tick is a nanosecond of CLOCK_MONOTONIC.
 */
#if defined(__x86_64__) || defined(__i386__)
static inline int64
ticks(void)
{
	return (int64) __rdtsc();
}
#else
#define ticks() now_ns()
#endif

static int64 cal_ns = 0;		/* the clock and the counter at calibration */
static int64 cal_ticks = 0;

/*
 * Start calibrating the ticks against the clock.
 */
static void
calibrate(void)
{
	cal_ns = now_ns();
	cal_ticks = ticks();
}

/*
 * Ticks as milliseconds.
 */
double
oml_run_ticks_to_ms(int64 t)
{
#if defined(__x86_64__) || defined(__i386__)
	int64		span_ticks = ticks() - cal_ticks;
	int64		span_ns = now_ns() - cal_ns;

	if (t <= 0 || span_ticks <= 0)
		return 0;
	return (double) t * ((double) span_ns / (double) span_ticks) / 1e6;
#else
	return t > 0 ? t / 1e6 : 0;
#endif
}

/*
 * Ticks since run started (0 if it was not timed: the statistics and the
 * log were both off then).
 */
static inline int64
run_ticks(const OmlRun *run)
{
	return run->start_ticks == 0 ? 0 : ticks() - run->start_ticks;
}

/*
 * The version of a script that the statistics and the run log record.
 *
 * The one place that says which version ran: the registry's version
 * (registry.c) the lookup resolved, 1 on a schema without versions.
 */
static int64
oml_run_script_version(const OmlScript *scr)
{
	return scr->version > 0 ? scr->version : 1;
}

/*
 * The backend is exiting (pg_terminate_backend, a FATAL error) in the
 * middle of calls, which no PG_CATCH sees: record them as failed, before
 * the transaction's memory (which holds the records' strings) goes.
 */
static void
runs_at_exit(int code, Datum arg)
{
	while (current_run != NULL)
	{
		OmlRun	   *run = current_run;
		int64		t = run_ticks(run);

		current_run = run->outer;
		if (oml_stat_track && run->resolved && run->batch && !run->ended)
		{
			oml_stat_add(run->batch, run, t, true);
			oml_stat_flush(run->batch);
		}
		if (oml_log_runs != OML_LOG_OFF)
		{
			ErrorData	edata;

			memset(&edata, 0, sizeof(edata));
			edata.sqlerrcode = ERRCODE_ADMIN_SHUTDOWN;
			edata.message = "the backend exited during the call";
			oml_log_enqueue(run, oml_run_ticks_to_ms(t), &edata);
		}
	}
}

/*
 * Start the record of a call of function (pyqEval, ...); it becomes the
 * current one.
 */
void
oml_run_begin(OmlRun *run, const char *function)
{
	if (unlikely(!exit_callback_set))
	{
		before_shmem_exit(runs_at_exit, (Datum) 0);
		exit_callback_set = true;
		calibrate();
	}
	memset(run, 0, sizeof(OmlRun));
	run->function = function;
	run->cxt = CurrentMemoryContext;
	run->outer = current_run;
	/* Its inp_nam is text of the outer script's source (see runlog.c). */
	run->in_unreadable = run->outer != NULL &&
		(run->outer->in_unreadable ||
		 (run->outer->resolved && !run->outer->readable));
	current_run = run;
	/* Names are looked up now: a failing call must not need the catalogs. */
	if (oml_log_runs != OML_LOG_OFF)
	{
		run->role_name = GetUserNameFromId(GetUserId(), true);
		run->session_role_name = GetUserNameFromId(GetSessionUserId(), true);
	}
	/* With neither on, a call pays for no clock reading. */
	if (oml_stat_track || oml_log_runs != OML_LOG_OFF)
		run->start_ticks = ticks();
}

/*
 * The call found its script.
 */
void
oml_run_set_script(OmlRun *run, const OmlScript *scr)
{
	run->resolved = true;
	run->script_id = scr->id;
	run->script_version = oml_run_script_version(scr);
	run->script_owner = scr->owner;
	run->is_global = scr->is_global;
	run->readable = scr->readable;
	run->script_name = scr->name;
	if (oml_log_runs != OML_LOG_OFF)
		run->script_owner_name = scr->is_global ? OML_GLOBAL_OWNER :
			GetUserNameFromId(scr->owner, true);
}

/*
 * The call ended normally.  Called inside the caller's PG_TRY: waiting
 * for room in the run log's queue may be cancelled, and the call is then
 * a failed one.
 */
void
oml_run_end(OmlRun *run)
{
	int64		t;

	current_run = run->outer;
	run->ended = true;			/* no error can come before the counting */
	if (!oml_stat_track && oml_log_runs != OML_LOG_ALL)
		return;
	t = run_ticks(run);
	if (oml_stat_track && run->resolved && run->batch)
		oml_stat_add(run->batch, run, t, false);
	if (oml_log_runs == OML_LOG_ALL)
		oml_log_enqueue(run, oml_run_ticks_to_ms(t), NULL);
}

/*
 * The call is ending with the error being handled (called in PG_CATCH,
 * before it is rethrown): counted at once, and logged unless the log is
 * off.  A cancel is an error too.
 */
void
oml_run_failed(OmlRun *run)
{
	int64		t = run_ticks(run);
	MemoryContext old;

	current_run = run->outer;
	old = MemoryContextSwitchTo(run->cxt);
	if (oml_stat_track && run->resolved && run->batch && !run->ended)
	{
		oml_stat_add(run->batch, run, t, true);
		oml_stat_flush(run->batch);
	}
	if (oml_log_runs != OML_LOG_OFF)
	{
		ErrorData  *edata = CopyErrorData();

		oml_log_enqueue(run, oml_run_ticks_to_ms(t), edata);
		FreeErrorData(edata);
	}
	MemoryContextSwitchTo(old);
}

/*
 * A datastore object is being read (dsread.c): note it in the current
 * call's record, when there is one and the run log is on, with the
 * version read (0: the datastore has no versions).  Each object once; past OML_RUN_TEXT_MAX bytes the list ends with {"truncated": true}.
 */
void
oml_run_note_object(Oid owner, const char *ds_name, const char *obj_name,
					int32 version)
{
	OmlRun	   *run = current_run;
	MemoryContext old;
	StringInfoData item;
	StringInfo	buf;
	char	   *owner_name;

	if (run == NULL || oml_log_runs == OML_LOG_OFF)
		return;
	old = MemoryContextSwitchTo(run->cxt);
	if (run->objects == NULL)
	{
		buf = makeStringInfo();
		appendStringInfoChar(buf, '[');
		run->objects = buf;
	}
	buf = (StringInfo) run->objects;
	owner_name = GetUserNameFromId(owner, true);
	initStringInfo(&item);
	appendStringInfoString(&item, "{\"owner\": ");
	escape_json(&item, owner_name ? owner_name : "");
	appendStringInfoString(&item, ", \"datastore\": ");
	escape_json(&item, ds_name);
	appendStringInfoString(&item, ", \"object\": ");
	escape_json(&item, obj_name);
	/* The version read; null for a datastore without versions. */
	if (version > 0)
		appendStringInfo(&item, ", \"version\": %d}", version);
	else
		appendStringInfoString(&item, ", \"version\": null}");
	if (strstr(buf->data, item.data) == NULL &&
		strstr(buf->data, "\"truncated\"") == NULL)
	{
		if (buf->len + item.len + 32 > OML_RUN_TEXT_MAX)
			appendStringInfoString(buf, buf->len > 1 ? ", {\"truncated\": true}" :
								   "{\"truncated\": true}");
		else
		{
			if (buf->len > 1)
				appendStringInfoString(buf, ", ");
			appendBinaryStringInfo(buf, item.data, item.len);
		}
	}
	pfree(item.data);
	MemoryContextSwitchTo(old);
}
