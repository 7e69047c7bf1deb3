/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  Shared memory of the async job machinery (jobs.c, jobworker.c).
 *
 * The launcher (a static background worker) owns the slot table: a slot
 * per job worker it may run at once.  Backends append committed
 * submissions to the queue and wake the launcher through its latch; the
 * launcher starts a dynamic worker per job, connected to the job's
 * database as the submitting role.  Databases that need maintenance
 * (start-up, a worker that died, a full queue, expired results) are listed
 * in dbs[]; a maintenance worker per database does it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OML_JOBS_H
#define OML_JOBS_H

#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#define OML_JOB_QUEUE_SIZE 256
#define OML_JOB_MAX_DBS 64
#define OML_JOB_MAX_DEAD 64
#define OML_JOB_MAX_WORKERS 64

typedef enum OmlSlotState
{
	SLOT_FREE = 0,
	SLOT_STARTING,				/* registered, the worker has not claimed */
	SLOT_CLAIMED,				/* the worker marked its job running */
	SLOT_DONE					/* the worker recorded the job's end */
} OmlSlotState;

/* A committed submission waiting for a worker. */
typedef struct OmlJobEntry
{
	Oid			dboid;
	Oid			roleid;
	int64		job_id;
} OmlJobEntry;

typedef struct OmlJobSlot
{
	OmlSlotState state;
	OmlJobEntry job;
	pid_t		pid;			/* the worker's, once started */
	bool		cancel;			/* pyqJobCancel asked to stop it */
} OmlJobSlot;

/* A job whose worker ended without recording the job's end. */
typedef struct OmlDeadJob
{
	OmlJobEntry job;
	bool		never_started;	/* died before claiming it */
} OmlDeadJob;

typedef struct OmlJobDb
{
	Oid			dboid;
	bool		need_maint;		/* maintenance asked for */
	bool		startup;		/* first maintenance since start-up */
	bool		rescan;			/* queued jobs may be missing from queue[] */
	TimestampTz last_maint;
} OmlJobDb;

typedef struct OmlJobShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			qhead;			/* queue[] is a ring of qlen entries */
	int			qlen;
	OmlJobEntry queue[OML_JOB_QUEUE_SIZE];
	int			ndbs;
	OmlJobDb	dbs[OML_JOB_MAX_DBS];
	int			ndead;
	OmlDeadJob	dead[OML_JOB_MAX_DEAD];
	bool		maint_running;
	int			nslots;
	OmlJobSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} OmlJobShared;

/* jobs.c */
extern OmlJobShared *oml_jobs_shared;
extern int	oml_job_workers;
extern int	oml_job_retention;
extern int	oml_job_timeout;
extern OmlJobDb *oml_jobs_note_db(Oid dboid);
extern void oml_jobs_wake_launcher(void);

#endif							/* OML_JOBS_H */
