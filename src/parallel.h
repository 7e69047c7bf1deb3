/*-------------------------------------------------------------------------
 *
 * parallel.h
 *	  Parallel pyqRowEval, pyqGroupEval and pyqIndexEval (parallel.c), and
 *	  what pyqeval.c offers it to run the script on one unit of work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OML_PARALLEL_H
#define OML_PARALLEL_H

#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "utils/tuplestore.h"

/* Highest oml_parallel_degree (as _PARALLEL_DEGREE_MAX in _runtime.py). */
#define OML_PARALLEL_DEGREE_MAX 64

/* What the script runs on: a chunk or group of rows, or an index. */
#define OML_UNIT_ROWS 'R'
#define OML_UNIT_INDEX 'I'

/* One pyq* call being run (pyqeval.c), opaque to parallel.c. */
typedef struct OmlEvalRun OmlEvalRun;

/*
 * What a worker needs to run the same call as the leader: filled in by
 * oml_eval_describe in the leader, rebuilt from shared memory in a worker.
 */
typedef struct OmlEvalDesc
{
	char		kind;			/* OML_UNIT_ROWS or OML_UNIT_INDEX */
	Oid			caller;			/* the calling role */
	int64		scr_id;
	char	   *scr_name;
	char	   *scr_source;		/* the source the leader found and checked */
	bool		scr_readable;	/* may the caller read it (tracebacks) */
	char	   *par_lst;		/* NULL: none */
	char	   *out_fmt;		/* NULL: relational */
	bool		scalar;			/* one column of a scalar output type */
	TupleDesc	result_desc;	/* the result columns */
	Tuplestorestate *result;	/* leader: where result rows go */
} OmlEvalDesc;

/* pyqeval.c, for parallel.c */
extern void oml_eval_describe(OmlEvalRun *run, OmlEvalDesc *desc);
extern OmlEvalRun *oml_eval_worker_begin(OmlEvalDesc *desc);
extern Tuplestorestate *oml_eval_swap_result(OmlEvalRun *run,
											 Tuplestorestate *ts);
extern void oml_eval_unit(OmlEvalRun *run, struct OmlColumns *cols,
						  int index, const char *label);

/* parallel.c, for pyqeval.c */
typedef struct OmlParallel OmlParallel;
extern int	oml_parallel_degree(int asked);
extern bool oml_parallel_input_safe(struct _SPI_plan *plan);
extern OmlParallel *oml_parallel_begin(OmlEvalRun *run, int degree,
									   TupleDesc input_desc);
extern void oml_parallel_add_row(OmlParallel *par, TupleTableSlot *slot);
extern void oml_parallel_end_unit(OmlParallel *par, const char *label);
extern void oml_parallel_index(OmlParallel *par, int index, const char *label);
extern void oml_parallel_finish(OmlParallel *par);
extern void oml_parallel_cleanup(OmlParallel *par);

#endif							/* OML_PARALLEL_H */
