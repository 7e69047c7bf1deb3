/*-------------------------------------------------------------------------
 *
 * runstats.c
 *	  Per-script statistics of pyq* calls in shared memory: the view
 *	  oml.pyq_stat_scripts and oml.pyq_stat_reset().
 *
 * As contrib/pg_stat_statements: a hash table in shared memory (at most
 * oml_store.track_max entries, keyed by database, script and version)
 * under one LWLock, taken shared to find an entry and exclusive to add or
 * remove one; each entry's counters have their own spinlock.  They last
 * until reset or a server restart.
 *
 * A call adds to a batch its call site keeps (OmlStatBatch, in the
 * statement's memory), which goes to shared memory when the statement
 * ends (also by an error: the batch goes at once, and its memory's reset
 * callback in an abort finds it empty), when a call fails, after 10000
 * calls or about a second, or when the call site runs another script.
 * That keeps a call's cost to two readings of the CPU's time-stamp counter
 * and a few additions (see runrecord.c).
 *
 * Peak memory: how much the backend's peak resident set size
 * (getrusage's ru_maxrss) grew while a batch ran; the most over the
 * script's batches.  It is 0 for calls that stayed within memory the
 * backend had used before; Python's allocator has no cheap peak counter,
 * and tracemalloc slows every allocation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_pyq_stat_scripts);
PG_FUNCTION_INFO_V1(oml_pyq_stat_reset);

/*
 * A batch goes to shared memory after this many calls or ticks (about a
 * second or less: time-stamp counters tick at most a few GHz).
 */
#define STAT_BATCH_CALLS 10000
#define STAT_BATCH_TICKS INT64CONST(1000000000)

typedef struct StatKey
{
	Oid			dbid;
	int64		script_id;
	int64		version;
} StatKey;

typedef struct StatEntry
{
	StatKey		key;			/* the hash key: first */
	slock_t		mutex;			/* protects the counters */
	Oid			owner;
	bool		is_global;
	char		name[OML_NAME_MAXLEN * 4 + 1];
	int64		calls;
	int64		errors;
	double		total_ms;
	int64		rows_in;
	int64		rows_out;
	int64		peak_kb;
} StatEntry;

typedef struct StatShared
{
	LWLock	   *lock;			/* protects the hash table's entries */
} StatShared;

bool		oml_stat_track = true;
static int	stat_max = 1000;

static StatShared *stat_shared = NULL;
static HTAB *stat_hash = NULL;

/*
 * oml_store.track and oml_store.track_max.
 */
void
oml_stat_define_gucs(void)
{
	DefineCustomBoolVariable("oml_store.track",
							 "Keeps per-script statistics of pyq* calls (oml.pyq_stat_scripts).",
							 "Only superusers can change it, so that a role cannot hide its calls.",
							 &oml_stat_track, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	/* Sizes of shared memory: only while it is being requested. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("oml_store.track_max",
							"Most scripts (and versions) with statistics; the least called go first.",
							NULL, &stat_max, 1000, 100, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/*
 * Shared memory the statistics need.
 */
Size
oml_stat_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(StatShared)),
					hash_estimate_size(stat_max, sizeof(StatEntry)));
}

/*
 * Create or attach to the statistics (AddinShmemInitLock held).
 */
void
oml_stat_shmem_init(void)
{
	bool		found;
	HASHCTL		info;

	stat_shared = ShmemInitStruct("oml_store stats", sizeof(StatShared), &found);
	if (!found)
		stat_shared->lock = &(GetNamedLWLockTranche("oml_store runs"))[0].lock;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(StatKey);
	info.entrysize = sizeof(StatEntry);
	stat_hash = ShmemInitHash("oml_store stats hash", stat_max, stat_max,
							  &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * The backend's peak resident set size so far, in kB.
 */
static long
maxrss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_maxrss;
}

/*
 * Count one call of run's script (failed: an error) in the batch.
 */
void
oml_stat_add(OmlStatBatch *batch, const OmlRun *run, int64 ticks, bool failed)
{
	if (stat_hash == NULL)
		return;
	if (batch->active &&
		(batch->script_id != run->script_id ||
		 batch->version != run->script_version))
		oml_stat_flush(batch);
	if (!batch->active)
	{
		batch->active = true;
		batch->script_id = run->script_id;
		batch->version = run->script_version;
		batch->owner = run->script_owner;
		batch->is_global = run->is_global;
		strlcpy(batch->name, run->script_name, sizeof(batch->name));
		batch->calls = batch->errors = batch->rows_in = batch->rows_out = 0;
		batch->total_ticks = 0;
		batch->maxrss_kb = maxrss_kb();
		batch->started_ticks = run->start_ticks;
	}
	batch->calls++;
	if (failed)
		batch->errors++;
	if (ticks > 0)
		batch->total_ticks += ticks;
	batch->rows_in += run->rows_in;
	batch->rows_out += run->rows_out;
	if (batch->calls >= STAT_BATCH_CALLS ||
		run->start_ticks - batch->started_ticks > STAT_BATCH_TICKS)
		oml_stat_flush(batch);
}

/*
 * Make room for one entry: remove the least called one (exclusive lock
 * held).
 */
static void
evict_one(void)
{
	HASH_SEQ_STATUS scan;
	StatEntry  *e;
	StatEntry  *victim = NULL;

	hash_seq_init(&scan, stat_hash);
	while ((e = hash_seq_search(&scan)) != NULL)
		if (victim == NULL || e->calls < victim->calls)
			victim = e;
	if (victim)
		hash_search(stat_hash, &victim->key, HASH_REMOVE, NULL);
}

/*
 * Add the batch to shared memory and empty it.  Raises no error, so that
 * it can run in an abort.
 */
void
oml_stat_flush(OmlStatBatch *batch)
{
	StatKey		key;
	StatEntry  *e;
	bool		found;
	long		peak;
	double		total_ms;

	if (!batch->active)
		return;
	batch->active = false;
	if (stat_hash == NULL)
		return;
	peak = maxrss_kb() - batch->maxrss_kb;
	total_ms = oml_run_ticks_to_ms(batch->total_ticks);
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.script_id = batch->script_id;
	key.version = batch->version;

	LWLockAcquire(stat_shared->lock, LW_SHARED);
	e = hash_search(stat_hash, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(stat_shared->lock);
		LWLockAcquire(stat_shared->lock, LW_EXCLUSIVE);
		e = hash_search(stat_hash, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			evict_one();
			e = hash_search(stat_hash, &key, HASH_ENTER_NULL, &found);
		}
		if (e != NULL && !found)
		{
			SpinLockInit(&e->mutex);
			e->owner = batch->owner;
			e->is_global = batch->is_global;
			strlcpy(e->name, batch->name, sizeof(e->name));
			e->calls = e->errors = e->rows_in = e->rows_out = e->peak_kb = 0;
			e->total_ms = 0;
		}
	}
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		e->calls += batch->calls;
		e->errors += batch->errors;
		e->total_ms += total_ms;
		e->rows_in += batch->rows_in;
		e->rows_out += batch->rows_out;
		if (peak > e->peak_kb)
			e->peak_kb = peak;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(stat_shared->lock);
}

/*
 * The statistics live in shared memory, set up only when the library is
 * preloaded.
 */
static void
require_shmem(void)
{
	if (stat_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("oml_store statistics are not available"),
				 errdetail("They are kept in shared memory, which needs the library to be preloaded."),
				 errhint("Add oml_store to shared_preload_libraries and restart the server.")));
}

/*
 * SQL oml.pyq_stat_scripts(): the statistics of this database's scripts.
 * A role sees its own scripts' rows (those of roles whose privileges it
 * has), global scripts' rows (owner PYQSYS: their names are public) and,
 * with pg_read_all_stats or as a superuser, every row; of other rows only
 * the counters, with owner, name and version NULL, as pg_stat_statements
 * hides other roles' query texts.
 */
Datum
oml_pyq_stat_scripts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			caller = GetUserId();
	bool		all = has_privs_of_role(caller, ROLE_PG_READ_ALL_STATS);
	HASH_SEQ_STATUS scan;
	StatEntry  *e;

	require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(stat_shared->lock, LW_SHARED);
	hash_seq_init(&scan, stat_hash);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		Datum		values[10];
		bool		nulls[10];
		bool		full;
		StatEntry	c;
		char	   *owner = NULL;

		if (e->key.dbid != MyDatabaseId)
			continue;
		SpinLockAcquire(&e->mutex);
		c = *e;
		SpinLockRelease(&e->mutex);

		memset(nulls, 0, sizeof(nulls));
		full = all || c.is_global || has_privs_of_role(caller, c.owner);
		if (full)
			owner = c.is_global ? OML_GLOBAL_OWNER : GetUserNameFromId(c.owner, true);
		nulls[0] = owner == NULL;
		if (owner)
			values[0] = CStringGetTextDatum(owner);
		nulls[1] = nulls[2] = !full;
		if (full)
		{
			values[1] = CStringGetTextDatum(c.name);
			values[2] = Int64GetDatum(c.key.version);
		}
		values[3] = Int64GetDatum(c.calls);
		values[4] = Int64GetDatum(c.errors);
		values[5] = Float8GetDatum(c.total_ms);
		values[6] = Float8GetDatum(c.calls > 0 ? c.total_ms / c.calls : 0);
		values[7] = Int64GetDatum(c.rows_in);
		values[8] = Int64GetDatum(c.rows_out);
		values[9] = Int64GetDatum(c.peak_kb);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stat_shared->lock);
	return (Datum) 0;
}

/*
 * SQL oml.pyq_stat_reset(): forget statistics in this database, and say
 * how many entries went.  A superuser resets all of them; any other role
 * those of its own scripts (of roles whose privileges it has), never
 * others' (reading every row with pg_read_all_stats is not the right to
 * erase them).
 */
Datum
oml_pyq_stat_reset(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	bool		all = superuser();
	HASH_SEQ_STATUS scan;
	StatEntry  *e;
	int64		n = 0;

	require_shmem();
	LWLockAcquire(stat_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&scan, stat_hash);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId)
			continue;
		if (!all && !has_privs_of_role(caller, e->owner))
			continue;
		hash_search(stat_hash, &e->key, HASH_REMOVE, NULL);
		n++;
	}
	LWLockRelease(stat_shared->lock);
	PG_RETURN_INT64(n);
}
