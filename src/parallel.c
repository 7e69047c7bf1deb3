/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Parallel pyqRowEval, pyqGroupEval and pyqIndexEval, on PostgreSQL's
 *	  own parallel machinery (access/parallel.h).
 *
 * With oml_parallel_flag or oml_parallel_degree in par_lst, the calling
 * backend (the leader) starts degree - 1 parallel workers for the
 * statement.  They start as the leader's role, with its snapshot, GUCs
 * (search_path included) and transaction; their errors and NOTICEs reach
 * the leader with SQLSTATE and context; they are stopped with the
 * statement and none outlives it.
 *
 * The leader alone reads the input query.  It cuts the rows into chunks or
 * groups exactly as the serial call does, copies each unit's rows (as
 * minimal tuples) into one message and sends it through a shm_mq in the
 * parallel DSM segment to an idle worker; when no worker is idle it runs
 * the unit itself.  A worker turns the rows into the script's input, runs
 * the script, formats its result with the same code as the serial call and
 * sends the result rows back as one message per unit, which the leader
 * puts into the call's tuplestore.  A worker first starts its Python and
 * compiles the script, and says when it is ready: until then the leader
 * gives it nothing and runs the units itself (unless
 * parallel_leader_participation is off, as for a parallel query).  A worker never looks the script up:
 * it compiles the source the leader found and checked (for the same role),
 * so lookup and trust are decided once, in the leader.
 *
 * Results come back in the order of the serial call: a unit's result rows
 * wait in the leader (as the message that brought them) until the units
 * before it are in.
 *
 * When no worker can be had (max_worker_processes, max_parallel_workers),
 * the call runs serially with a NOTICE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"

#include "oml_store.h"
#include "parallel.h"

/* Entry point of the workers, found by name by ParallelWorkerMain. */
PGDLLEXPORT void oml_parallel_main(dsm_segment *seg, shm_toc *toc);

/* Keys of our chunks in the DSM segment's table of contents. */
#define OML_PAR_KEY_CALL	UINT64CONST(0x4F4D4C5041520001)
#define OML_PAR_KEY_QUEUES	UINT64CONST(0x4F4D4C5041520002)

/*
 * Bytes of each queue (one leader to worker, one back, per worker): room
 * for a whole unit of 100k narrow rows where that is affordable, so that
 * a send does not wait for the worker to read each ring's worth (which on
 * a busy machine costs a scheduling delay every time).
 */
#define OML_PAR_QUEUE_MIN	(512 * 1024)
#define OML_PAR_QUEUE_MAX	(8 * 1024 * 1024)
#define OML_PAR_QUEUES_TOTAL (32 * 1024 * 1024)

/* The message that ends a worker's work. */
#define OML_MSG_END 'X'
/* A unit's results, from a worker. */
#define OML_MSG_RESULT 'D'
/* A worker has its Python and the script ready. */
#define OML_MSG_READY 'Y'

/*
 * The head of a unit message (leader to worker) or a result message
 * (worker to leader); minimal tuples follow at MAXALIGN offsets, then for
 * a unit the label.
 */
typedef struct UnitMsg
{
	char		type;			/* OML_UNIT_ROWS, OML_UNIT_INDEX, OML_MSG_END,
								 * OML_MSG_RESULT */
	int32		index;			/* OML_UNIT_INDEX: the index */
	int32		seq;			/* the unit's number, from 0 */
	int32		ntuples;
	int32		label_len;		/* -1: NULL */
	uint32		label_off;
} UnitMsg;

#define UNIT_HEAD_SIZE MAXALIGN(sizeof(UnitMsg))

/*
 * The leader's state of one parallel call.
 */
struct OmlParallel
{
	ParallelContext *pcxt;		/* NULL once finished */
	OmlEvalRun *run;
	OmlEvalDesc desc;
	MemoryContext cxt;			/* holds this */
	MemoryContext unitcxt;		/* reset after each unit the leader runs */
	int			nworkers;		/* launched */
	shm_mq_handle **inq;		/* to each worker */
	shm_mq_handle **outq;		/* from each worker */
	bool	   *busy;			/* the worker has a unit */
	bool	   *ready;			/* the worker said it is ready */
	int			nbusy;
	StringInfoData unit;		/* the unit being gathered */
	int32		next_seq;		/* the number of the next unit */
	int32		next_out;		/* the unit whose results go out next */
	char	  **pending;		/* results of later units, by number */
	Size	   *pending_len;
	int32		npending;		/* pending's size */
	Tuplestorestate *local;		/* results of a unit the leader ran */
	TupleDesc	input_desc;		/* NULL for pyqIndexEval */
	TupleTableSlot *in_slot;
	TupleTableSlot *res_slot;
	OmlColumns *cols;			/* for units the leader runs */
};

/*
 * The degree of parallelism to use for a call whose par_lst asked for
 * asked (1: serial, 0: the default, which is max_parallel_workers_per_gather
 * workers and the leader, as for a parallel query).  Serial inside a
 * parallel operation (a pyq* call in a parallel worker or parallel query).
 */
int
oml_parallel_degree(int asked)
{
	if (asked == 1 || IsInParallelMode() || IsParallelWorker())
		return 1;
	if (asked == 0)
		return max_parallel_workers_per_gather + 1;
	return Min(asked, OML_PARALLEL_DEGREE_MAX);
}

/*
 * May the input query of plan run in parallel mode?  Not when it calls a
 * PARALLEL UNSAFE function (nextval, or one that writes), which parallel
 * mode would refuse: then the call runs serially, with a NOTICE.
 */
bool
oml_parallel_input_safe(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	ListCell   *lc;
	bool		safe = sources != NIL;

	foreach(lc, sources)
	{
		CachedPlanSource *source = lfirst(lc);
		ListCell   *lq;

		if (source->query_list == NIL)
			safe = false;
		foreach(lq, source->query_list)
		{
			if (max_parallel_hazard(lfirst_node(Query, lq)) == PROPARALLEL_UNSAFE)
				safe = false;
		}
	}
	if (!safe)
		ereport(NOTICE,
				(errmsg("the input query is not parallel safe: running serially"),
				 errdetail("It calls a function marked PARALLEL UNSAFE, which cannot run while parallel workers run.")));
	return safe;
}

/* Serialisation of the call for the workers. */

static void
put_int(StringInfo buf, int64 v)
{
	appendBinaryStringInfo(buf, (char *) &v, sizeof(v));
}

static void
put_str(StringInfo buf, const char *s)
{
	put_int(buf, s ? (int64) strlen(s) : -1);
	if (s)
		appendBinaryStringInfo(buf, s, strlen(s));
}

static void
put_desc(StringInfo buf, TupleDesc desc)
{
	put_int(buf, desc ? desc->natts : -1);
	if (desc == NULL)
		return;
	put_int(buf, desc->tdtypeid);
	put_int(buf, desc->tdtypmod);
	for (int i = 0; i < desc->natts; i++)
		appendBinaryStringInfo(buf, (char *) TupleDescAttr(desc, i),
							   ATTRIBUTE_FIXED_PART_SIZE);
}

static int64
get_int(char **p)
{
	int64		v;

	memcpy(&v, *p, sizeof(v));
	*p += sizeof(v);
	return v;
}

static char *
get_str(char **p)
{
	int64		len = get_int(p);
	char	   *s;

	if (len < 0)
		return NULL;
	s = palloc(len + 1);
	memcpy(s, *p, len);
	s[len] = '\0';
	*p += len;
	return s;
}

static TupleDesc
get_desc(char **p)
{
	int64		natts = get_int(p);
	TupleDesc	desc;

	if (natts < 0)
		return NULL;
	desc = CreateTemplateTupleDesc((int) natts);
	desc->tdtypeid = (Oid) get_int(p);
	desc->tdtypmod = (int32) get_int(p);
	for (int i = 0; i < natts; i++)
	{
		memcpy(TupleDescAttr(desc, i), *p, ATTRIBUTE_FIXED_PART_SIZE);
		*p += ATTRIBUTE_FIXED_PART_SIZE;
	}
	return desc;
}

/*
 * The call, as bytes for the DSM segment.
 */
static void
serialize_call(StringInfo buf, OmlEvalDesc *d, TupleDesc input_desc)
{
	initStringInfo(buf);
	put_int(buf, d->kind);
	put_int(buf, d->caller);
	put_int(buf, d->scr_id);
	put_int(buf, d->scalar);
	put_int(buf, d->scr_readable);
	put_str(buf, d->scr_name);
	put_str(buf, d->scr_source);
	put_str(buf, d->par_lst);
	put_str(buf, d->out_fmt);
	put_desc(buf, d->result_desc);
	put_desc(buf, input_desc);
}

/*
 * The size of each of the 2 * nworkers queues.
 */
static Size
queue_size(int nworkers)
{
	Size		size = OML_PAR_QUEUES_TOTAL / (2 * Max(nworkers, 1));

	size = Min(Max(size, OML_PAR_QUEUE_MIN), OML_PAR_QUEUE_MAX);
	return MAXALIGN(size);
}

/*
 * The call from the DSM segment, in a worker.
 */
static TupleDesc
restore_call(char *p, OmlEvalDesc *d, Size *qsize)
{
	TupleDesc	input_desc;

	memset(d, 0, sizeof(OmlEvalDesc));
	d->kind = (char) get_int(&p);
	d->caller = (Oid) get_int(&p);
	d->scr_id = get_int(&p);
	d->scalar = get_int(&p) != 0;
	d->scr_readable = get_int(&p) != 0;
	d->scr_name = get_str(&p);
	d->scr_source = get_str(&p);
	d->par_lst = get_str(&p);
	d->out_fmt = get_str(&p);
	d->result_desc = get_desc(&p);
	input_desc = get_desc(&p);
	*qsize = (Size) get_int(&p);
	return input_desc;
}

/* Units: building, sending, running. */

/*
 * Pad buf to a MAXALIGN offset.
 */
static void
pad_align(StringInfo buf)
{
	while (buf->len % MAXIMUM_ALIGNOF != 0)
		appendStringInfoChar(buf, '\0');
}

/*
 * Start a message of type in buf.
 */
static void
msg_begin(StringInfo buf, char type)
{
	UnitMsg		head;

	resetStringInfo(buf);
	memset(&head, 0, sizeof(head));
	head.type = type;
	head.label_len = -1;
	appendBinaryStringInfo(buf, (char *) &head, sizeof(head));
	pad_align(buf);
}

/*
 * Append the tuple in slot to the message in buf.
 */
static void
msg_add_slot(StringInfo buf, TupleTableSlot *slot)
{
	bool		should_free;
	MinimalTuple mt = ExecFetchSlotMinimalTuple(slot, &should_free);

	appendBinaryStringInfo(buf, (char *) mt, mt->t_len);
	pad_align(buf);
	((UnitMsg *) buf->data)->ntuples++;
	if (should_free)
		pfree(mt);
}

/*
 * End the message in buf: its label and index.
 */
static void
msg_end(StringInfo buf, const char *label, int index)
{
	UnitMsg    *head = (UnitMsg *) buf->data;

	head->index = index;
	head->label_off = buf->len;
	head->label_len = label ? strlen(label) : -1;
	if (label)
		appendBinaryStringInfo(buf, label, strlen(label) + 1);
}

/*
 * A received message, MAXALIGNed (shm_mq's messages are; copy if not).
 */
static char *
msg_aligned(void *data, Size len)
{
	char	   *copy;

	if (((uintptr_t) data) % MAXIMUM_ALIGNOF == 0)
		return data;
	copy = palloc(len);
	memcpy(copy, data, len);
	return copy;
}

/*
 * Call fn for each tuple of a message, stored in slot.
 */
static void
msg_for_tuples(char *msg, Size len, TupleTableSlot *slot,
			   void (*fn) (TupleTableSlot *slot, void *arg), void *arg)
{
	UnitMsg    *head = (UnitMsg *) msg;
	Size		off = UNIT_HEAD_SIZE;

	for (int i = 0; i < head->ntuples; i++)
	{
		MinimalTuple mt = (MinimalTuple) (msg + off);

		if (off + sizeof(uint32) > len || off + mt->t_len > len)
			elog(ERROR, "malformed parallel oml_store message");
		ExecStoreMinimalTuple(mt, slot, false);
		fn(slot, arg);
		ExecClearTuple(slot);
		off += MAXALIGN(mt->t_len);
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * msg_for_tuples callback: add the row to the columns being gathered.
 */
static void
add_to_columns(TupleTableSlot *slot, void *arg)
{
	slot_getallattrs(slot);
	oml_columns_add_values((OmlColumns *) arg, slot->tts_values,
						   slot->tts_isnull);
}

/*
 * msg_for_tuples callback: put the row into a tuplestore.
 */
static void
add_to_store(TupleTableSlot *slot, void *arg)
{
	tuplestore_puttupleslot((Tuplestorestate *) arg, slot);
}

/*
 * Run the script on the unit in msg (leader or worker).
 */
static void
run_unit(OmlEvalRun *run, char *msg, Size len, OmlColumns *cols,
		 TupleTableSlot *slot)
{
	UnitMsg    *head = (UnitMsg *) msg;
	const char *label = head->label_len < 0 ? NULL : msg + head->label_off;

	if (head->type == OML_UNIT_INDEX)
		oml_eval_unit(run, NULL, head->index, label);
	else
	{
		msg_for_tuples(msg, len, slot, add_to_columns, cols);
		oml_eval_unit(run, cols, 0, label);
	}
}

/*
 * The result rows in ts as a result message for unit seq, in buf.
 */
static void
store_to_msg(StringInfo buf, Tuplestorestate *ts, TupleTableSlot *slot,
			 int32 seq)
{
	msg_begin(buf, OML_MSG_RESULT);
	((UnitMsg *) buf->data)->seq = seq;
	while (tuplestore_gettupleslot(ts, true, false, slot))
		msg_add_slot(buf, slot);
	tuplestore_clear(ts);
}

/*
 * The results of unit seq (a result message): into the output when the
 * units before it are in, else kept until they are.
 */
static void
add_results(OmlParallel *par, int32 seq, char *msg, Size len)
{
	MemoryContext old;

	if (seq != par->next_out)
	{
		if (seq < par->next_out || seq >= par->next_seq ||
			(seq < par->npending && par->pending[seq] != NULL))
			elog(ERROR, "parallel oml_store results of unit %d out of place", seq);
		old = MemoryContextSwitchTo(par->cxt);
		if (seq >= par->npending)
		{
			int32		n = Max(seq + 1, par->npending * 2);

			if (par->pending == NULL)
			{
				par->pending = palloc0_array(char *, n);
				par->pending_len = palloc0_array(Size, n);
			}
			else
			{
				par->pending = repalloc(par->pending, sizeof(char *) * n);
				par->pending_len = repalloc(par->pending_len, sizeof(Size) * n);
				memset(par->pending + par->npending, 0,
					   sizeof(char *) * (n - par->npending));
			}
			par->npending = n;
		}
		par->pending[seq] = palloc(len);
		par->pending_len[seq] = len;
		memcpy(par->pending[seq], msg, len);
		MemoryContextSwitchTo(old);
		return;
	}
	msg_for_tuples(msg, len, par->res_slot, add_to_store, par->desc.result);
	par->next_out++;
	while (par->next_out < par->npending && par->pending[par->next_out])
	{
		char	   *next = par->pending[par->next_out];

		par->pending[par->next_out] = NULL;
		msg_for_tuples(next, par->pending_len[par->next_out], par->res_slot,
					   add_to_store, par->desc.result);
		pfree(next);
		par->next_out++;
	}
}

/*
 * Run the unit in par->unit in the leader, its results going to ts.
 */
static void
run_unit_into(OmlParallel *par, Tuplestorestate *ts)
{
	Tuplestorestate *out = oml_eval_swap_result(par->run, ts);

	PG_TRY();
	{
		run_unit(par->run, par->unit.data, par->unit.len, par->cols,
				 par->in_slot);
	}
	PG_FINALLY();
	{
		(void) oml_eval_swap_result(par->run, out);
	}
	PG_END_TRY();
}

/*
 * Run the unit in par->unit in the leader.  Its results go straight out
 * when every unit before it is in, else they wait like a worker's.
 */
static void
run_local(OmlParallel *par)
{
	MemoryContext old = MemoryContextSwitchTo(par->unitcxt);
	int32		seq = ((UnitMsg *) par->unit.data)->seq;

	if (seq == par->next_out)
	{
		run_unit(par->run, par->unit.data, par->unit.len, par->cols,
				 par->in_slot);
		par->next_out++;
	}
	else
	{
		StringInfoData buf;

		if (par->local == NULL)
		{
			MemoryContextSwitchTo(par->cxt);
			par->local = tuplestore_begin_heap(false, false, work_mem);
			MemoryContextSwitchTo(par->unitcxt);
		}
		run_unit_into(par, par->local);
		initStringInfo(&buf);
		store_to_msg(&buf, par->local, par->res_slot, seq);
		add_results(par, seq, buf.data, buf.len);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(par->unitcxt);
}

/*
 * A worker's queue broke off: the worker stopped.  Report its error, which
 * is waiting for the leader, or say that it stopped.
 */
static void
worker_gone(OmlParallel *par, int w)
{
	HandleParallelMessages();
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("parallel worker %d of script \"%s\" stopped", w,
					par->desc.scr_name)));
}

/*
 * Take the results the workers have finished; with wait, wait for one
 * unless no worker is busy.
 */
static void
drain(OmlParallel *par, bool wait)
{
	for (;;)
	{
		bool		got = false;

		CHECK_FOR_INTERRUPTS();
		for (int w = 0; w < par->nworkers; w++)
		{
			Size		len;
			void	   *data;
			shm_mq_result res;

			if (!par->busy[w] && par->ready[w])
				continue;
			res = shm_mq_receive(par->outq[w], &len, &data, true);
			if (res == SHM_MQ_WOULD_BLOCK)
				continue;
			if (res != SHM_MQ_SUCCESS)
				worker_gone(par, w);
			if (len < UNIT_HEAD_SIZE)
				elog(ERROR, "malformed parallel oml_store message");
			if (((UnitMsg *) data)->type == OML_MSG_READY && !par->ready[w])
			{
				par->ready[w] = true;
				got = true;
				continue;
			}
			if (((UnitMsg *) data)->type != OML_MSG_RESULT || !par->busy[w])
				elog(ERROR, "malformed parallel oml_store message");
			data = msg_aligned(data, len);
			add_results(par, ((UnitMsg *) data)->seq, data, len);
			par->busy[w] = false;
			par->nbusy--;
			got = true;
		}
		if (got || !wait)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * A worker with nothing to do, or -1.  With parallel_leader_participation
 * off, a worker that is not ready yet counts: the unit waits in its queue.
 */
static int
idle_worker(OmlParallel *par)
{
	for (int w = 0; w < par->nworkers; w++)
		if (!par->busy[w] && (par->ready[w] || !parallel_leader_participation))
			return w;
	return -1;
}

/*
 * Send the unit gathered in par->unit to an idle worker, or run it here.
 */
static void
dispatch(OmlParallel *par)
{
	((UnitMsg *) par->unit.data)->seq = par->next_seq++;
	drain(par, false);
	for (;;)
	{
		int			w = idle_worker(par);

		if (w < 0 && !parallel_leader_participation)
		{
			/* Not the leader's to run: wait for a worker. */
			drain(par, true);
			continue;
		}
		if (w < 0)
			break;
		if (shm_mq_send(par->inq[w], par->unit.len, par->unit.data,
						false, true) != SHM_MQ_SUCCESS)
			worker_gone(par, w);
		par->busy[w] = true;
		par->nbusy++;
		return;
	}

	/* Every worker is busy: the leader takes this one. */
	run_local(par);
	drain(par, false);
}

/*
 * Start a parallel run of degree processes (the leader and degree - 1
 * workers) for the call run; input_desc describes the input rows (NULL for
 * pyqIndexEval).  NULL when no worker could be had: run serially.
 */
OmlParallel *
oml_parallel_begin(OmlEvalRun *run, int degree, TupleDesc input_desc)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "oml_store parallel",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	OmlParallel *par = palloc0(sizeof(OmlParallel));
	int			want = Min(degree - 1, max_worker_processes);
	StringInfoData call;
	char	   *space;
	char	   *queues;
	Size		qsize = queue_size(want);
	ParallelContext *pcxt;

	par->cxt = cxt;
	par->run = run;
	oml_eval_describe(run, &par->desc);
	serialize_call(&call, &par->desc, input_desc);
	put_int(&call, (int64) qsize);

	EnterParallelMode();
	pcxt = CreateParallelContext("oml_store", "oml_parallel_main", want);
	shm_toc_estimate_chunk(&pcxt->estimator, call.len);
	shm_toc_estimate_chunk(&pcxt->estimator,
						   mul_size(qsize, mul_size(2, Max(want, 1))));
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);
	par->pcxt = pcxt;

	space = shm_toc_allocate(pcxt->toc, call.len);
	memcpy(space, call.data, call.len);
	shm_toc_insert(pcxt->toc, OML_PAR_KEY_CALL, space);
	queues = shm_toc_allocate(pcxt->toc,
							  mul_size(qsize, mul_size(2, Max(want, 1))));
	shm_toc_insert(pcxt->toc, OML_PAR_KEY_QUEUES, queues);
	for (int w = 0; w < pcxt->nworkers; w++)
	{
		shm_mq	   *in = shm_mq_create(queues + (2 * w) * qsize,
									   qsize);
		shm_mq	   *out = shm_mq_create(queues + (2 * w + 1) * qsize,
										qsize);

		shm_mq_set_sender(in, MyProc);
		shm_mq_set_receiver(out, MyProc);
	}

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		ereport(NOTICE,
				(errmsg("no parallel worker is free: running serially"),
				 errdetail("The call asked for %d processes; max_worker_processes and max_parallel_workers bound how many parallel workers can run at once.",
						   degree)));
		return NULL;
	}

	par->nworkers = pcxt->nworkers_launched;
	par->inq = palloc0(sizeof(shm_mq_handle *) * par->nworkers);
	par->outq = palloc0(sizeof(shm_mq_handle *) * par->nworkers);
	par->busy = palloc0(sizeof(bool) * par->nworkers);
	par->ready = palloc0(sizeof(bool) * par->nworkers);
	for (int w = 0; w < par->nworkers; w++)
	{
		par->inq[w] = shm_mq_attach((shm_mq *) (queues + (2 * w) * qsize),
									pcxt->seg, pcxt->worker[w].bgwhandle);
		par->outq[w] = shm_mq_attach((shm_mq *) (queues + (2 * w + 1) * qsize),
									 pcxt->seg, pcxt->worker[w].bgwhandle);
	}
	par->unitcxt = AllocSetContextCreate(cxt, "oml_store parallel unit",
										 ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&par->unit);
	par->res_slot = MakeSingleTupleTableSlot(par->desc.result_desc,
											 &TTSOpsMinimalTuple);
	if (input_desc)
	{
		par->input_desc = input_desc;
		par->in_slot = MakeSingleTupleTableSlot(input_desc, &TTSOpsMinimalTuple);
		par->cols = oml_columns_begin(input_desc);
	}
	msg_begin(&par->unit, OML_UNIT_ROWS);
	MemoryContextSwitchTo(old);
	return par;
}

/*
 * Add the row in slot to the unit being gathered.
 */
void
oml_parallel_add_row(OmlParallel *par, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(par->cxt);

	msg_add_slot(&par->unit, slot);
	MemoryContextSwitchTo(old);
}

/*
 * The unit being gathered is complete: run it, labelled label.
 */
void
oml_parallel_end_unit(OmlParallel *par, const char *label)
{
	MemoryContext old = MemoryContextSwitchTo(par->cxt);

	msg_end(&par->unit, label, 0);
	dispatch(par);
	msg_begin(&par->unit, OML_UNIT_ROWS);
	MemoryContextSwitchTo(old);
}

/*
 * Run the script on index, labelled label.
 */
void
oml_parallel_index(OmlParallel *par, int index, const char *label)
{
	MemoryContext old = MemoryContextSwitchTo(par->cxt);

	msg_begin(&par->unit, OML_UNIT_INDEX);
	msg_end(&par->unit, label, index);
	dispatch(par);
	MemoryContextSwitchTo(old);
}

/*
 * All units are out: take the remaining results, stop the workers and
 * leave parallel mode.
 */
void
oml_parallel_finish(OmlParallel *par)
{
	StringInfoData end;

	while (par->nbusy > 0)
		drain(par, true);
	if (par->next_out != par->next_seq)
		elog(ERROR, "parallel oml_store call lost the results of unit %d",
			 par->next_out);
	initStringInfo(&end);
	msg_begin(&end, OML_MSG_END);
	for (int w = 0; w < par->nworkers; w++)
		if (shm_mq_send(par->inq[w], end.len, end.data, false, true) != SHM_MQ_SUCCESS)
			worker_gone(par, w);
	/* Raises a worker's error, and passes on its NOTICEs. */
	WaitForParallelWorkersToFinish(par->pcxt);
	oml_parallel_cleanup(par);
}

/*
 * Stop the workers, if still running, and leave parallel mode; after an
 * error too.  The leader waits until every worker has exited.
 */
void
oml_parallel_cleanup(OmlParallel *par)
{
	if (par->pcxt == NULL)
		return;
	if (par->cols)
		oml_columns_free(par->cols);
	par->cols = NULL;
	DestroyParallelContext(par->pcxt);
	par->pcxt = NULL;
	ExitParallelMode();
}

/*
 * A parallel worker: run the units the leader sends until it says the end.
 */
void
oml_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	char	   *callbuf = shm_toc_lookup(toc, OML_PAR_KEY_CALL, false);
	char	   *queues = shm_toc_lookup(toc, OML_PAR_KEY_QUEUES, false);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "oml_store parallel worker",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext unitcxt = AllocSetContextCreate(cxt,
												  "oml_store parallel unit",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	OmlEvalDesc desc;
	Size		qsize;
	TupleDesc	input_desc = restore_call(callbuf, &desc, &qsize);
	shm_mq	   *in = (shm_mq *) (queues + (2 * ParallelWorkerNumber) * qsize);
	shm_mq	   *out = (shm_mq *) (queues + (2 * ParallelWorkerNumber + 1) * qsize);
	shm_mq_handle *inq;
	shm_mq_handle *outq;
	OmlEvalRun *run;
	void	   *first;
	Size		first_len = 0;
	OmlColumns *volatile cols = NULL;
	TupleTableSlot *in_slot = NULL;
	TupleTableSlot *res_slot;
	StringInfoData reply;

	shm_mq_set_receiver(in, MyProc);
	shm_mq_set_sender(out, MyProc);
	inq = shm_mq_attach(in, seg, NULL);
	outq = shm_mq_attach(out, seg, NULL);

	/* The leader may be done already: then there is nothing to start. */
	if (shm_mq_receive(inq, &first_len, &first, true) == SHM_MQ_SUCCESS)
	{
		if (first_len >= UNIT_HEAD_SIZE &&
			((UnitMsg *) first)->type == OML_MSG_END)
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			return;
		}
		first = memcpy(palloc(first_len), first, first_len);
	}
	else
		first = NULL;

	desc.result = tuplestore_begin_heap(false, false, work_mem);
	run = oml_eval_worker_begin(&desc);
	res_slot = MakeSingleTupleTableSlot(desc.result_desc, &TTSOpsMinimalTuple);
	if (input_desc)
		in_slot = MakeSingleTupleTableSlot(input_desc, &TTSOpsMinimalTuple);
	initStringInfo(&reply);
	msg_begin(&reply, OML_MSG_READY);
	if (shm_mq_send(outq, reply.len, reply.data, false, true) != SHM_MQ_SUCCESS)
		first = NULL;			/* the leader is gone */

	PG_TRY();
	{
		if (input_desc)
			cols = oml_columns_begin(input_desc);
		for (;;)
		{
			Size		len;
			void	   *data;
			char	   *msg;

			CHECK_FOR_INTERRUPTS();
			if (first != NULL)
			{
				/* The unit that came while Python started. */
				data = first;
				len = first_len;
				first = NULL;
			}
			else if (shm_mq_receive(inq, &len, &data, false) != SHM_MQ_SUCCESS)
				break;			/* the leader is gone */
			msg = msg_aligned(data, len);
			if (len < UNIT_HEAD_SIZE)
				elog(ERROR, "malformed parallel oml_store message");
			if (((UnitMsg *) msg)->type == OML_MSG_END)
				break;

			MemoryContextSwitchTo(unitcxt);
			run_unit(run, msg, len, cols, in_slot);

			/* The unit's result rows, in one message. */
			store_to_msg(&reply, desc.result, res_slot, ((UnitMsg *) msg)->seq);
			if (shm_mq_send(outq, reply.len, reply.data, false, true) != SHM_MQ_SUCCESS)
				break;
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(unitcxt);
		}
	}
	PG_FINALLY();
	{
		if (cols)
			oml_columns_free(cols);
	}
	PG_END_TRY();
	/* The scripts' output, as one NOTICE (the leader passes it on). */
	oml_state_flush_output();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
