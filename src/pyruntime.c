/*-------------------------------------------------------------------------
 *
 * pyruntime.c
 *	  The embedded Python interpreter: start-up on first use, the _oml
 *	  module that gives Python SPI access, error mapping both ways, and
 *	  cancellation of running Python.
 *
 * One interpreter per backend, shared with plpython3u when both are used:
 * whichever starts first initialises Python; the other finds it running.
 * Like plpython, we keep the GIL for the life of the backend.
 *
 * Cancel: statement_timeout and pg_cancel_backend both arrive as SIGINT
 * (statement_timeout through SIGALRM, whose handler sends it),
 * pg_terminate_backend as SIGTERM.  We chain PostgreSQL's handlers and,
 * for the whole of a statement that runs Python (the "Python scope": from
 * the first pyq* call or script check to the end of the statement), also
 * trip Python's SIGINT, so the next bytecode raises KeyboardInterrupt
 * wherever Python runs: in the script, in conversions of its results, in
 * exception formatting or destructors.  The error then reaches PostgreSQL's
 * CHECK_FOR_INTERRUPTS, which reports the cancel (or ends the backend).
 * Inside the scope the three handlers are installed without SA_RESTART,
 * so that blocking system calls (waitpid, read, recv) return EINTR and
 * Python runs its handler; a signal that lands on another thread is passed
 * on to the main thread.
 *
 * Process state that a script changes is put back after every top-level
 * call (pystate.c); output to sys.stdout and sys.stderr is captured and
 * reported as a NOTICE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "pyoml.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_param.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "oml_store.h"

PyObject   *oml_py_runtime = NULL;

static bool py_ready = false;
static volatile sig_atomic_t in_python = 0;

/*
 * Set when an SQL statement run by a script was cancelled: the cancel must
 * end the script even if the script catches the error.  Holds the message.
 */
static bool cancel_seen = false;
static char cancel_message[256];

/* How deep we are in Python called from here (scripts calling scripts). */
static int	py_nesting = 0;
static bool tracer_on = false;

static bool on_main_thread(void);
static int	subxact_floor;

/*
 * In parallel mode (a parallel pyq* call, see parallel.c) no subtransaction
 * can be started: the first error of a call into PostgreSQL is kept here
 * (in TopTransactionContext) and ends the script's call, even if the
 * script catches it; further calls into PostgreSQL fail at once.
 */
static ErrorData *parallel_error = NULL;

/*
 * Is a cancel or termination waiting for PostgreSQL to act on it?
 */
static bool
cancel_pending(void)
{
	return cancel_seen ||
		(InterruptPending && (QueryCancelPending || ProcDiePending));
}
static pqsigfunc prev_sigint = NULL;
static pqsigfunc prev_sigterm = NULL;
static pqsigfunc prev_sigalrm = NULL;
static PyObject *spi_error = NULL;	/* _oml.SPIError */
static pthread_t main_pthread;

/* The Python scope: see the file header. */
static bool scope_active = false;
static bool scope_end_pending = false;	/* its statement ended in Python */
static uint64 scope_generation = 0; /* which scope a callback belongs to */

typedef struct ScopeCallback
{
	MemoryContextCallback cb;
	uint64		generation;
} ScopeCallback;

/*
 * Run PostgreSQL's handler, then, inside the Python scope, interrupt
 * Python (trip).  A signal delivered to another thread (a thread a script
 * or a library started) is sent on to the main thread, so that its
 * blocking system call is interrupted.
 */
static void
chain_signal(pqsigfunc prev, int signo, bool trip)
{
	int			save_errno = errno;

	if (oml_forked_child || getpid() != MyProcPid)
	{
		/* A script's child (maybe just forked): the default action. */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(signo, &dfl, NULL);
		raise(signo);
		errno = save_errno;
		return;
	}
	if (!pthread_equal(pthread_self(), main_pthread))
	{
		pthread_kill(main_pthread, signo);
		errno = save_errno;
		return;
	}
	if (prev != SIG_DFL && prev != SIG_IGN && prev != NULL)
		prev(signo);
	if (trip && in_python)
		PyErr_SetInterruptEx(SIGINT);
	errno = save_errno;
}

/*
 * SIGINT (cancel, statement_timeout): PostgreSQL's cancel handler first.
 */
static void
oml_sigint(SIGNAL_ARGS)
{
	chain_signal(prev_sigint, postgres_signal_arg, true);
}

/*
 * SIGTERM (pg_terminate_backend): PostgreSQL's die handler first.
 */
static void
oml_sigterm(SIGNAL_ARGS)
{
	chain_signal(prev_sigterm, postgres_signal_arg, true);
}

/*
 * SIGALRM (timeouts): PostgreSQL's handler, which sends SIGINT for
 * statement_timeout.  Ours only to choose SA_RESTART and the thread.
 */
static void
oml_sigalrm(SIGNAL_ARGS)
{
	chain_signal(prev_sigalrm, postgres_signal_arg, false);
}

/*
 * Install our SIGINT, SIGTERM and SIGALRM handlers, with SA_RESTART
 * (PostgreSQL's choice) or without it (inside the Python scope).
 */
static void
install_handlers(bool restart)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_flags = restart ? SA_RESTART : 0;
	act.sa_handler = oml_sigint;
	sigaction(SIGINT, &act, NULL);
	act.sa_handler = oml_sigterm;
	sigaction(SIGTERM, &act, NULL);
	act.sa_handler = oml_sigalrm;
	sigaction(SIGALRM, &act, NULL);
}

/*
 * Is our cancel tracer installed?  (pystate.c leaves it alone.)
 */
bool
oml_py_tracer_on(void)
{
	return tracer_on;
}

/*
 * End the Python scope: PostgreSQL's signal behaviour, no tripping, no
 * tracer; working directory and locale as they were.  Must not raise.
 */
static void
scope_end(void)
{
	install_handlers(true);
	in_python = 0;
	if (tracer_on)
	{
		PyEval_SetTrace(NULL, NULL);
		tracer_on = false;
	}
	oml_state_statement_end();
	scope_active = false;
	scope_end_pending = false;
}

/*
 * Reset callback of the statement's memory: the statement is over.  If
 * Python is still running (a context that ends early), end the scope when
 * it returns.
 */
static void
scope_callback_fn(void *arg)
{
	ScopeCallback *sc = (ScopeCallback *) arg;

	if (!scope_active || sc->generation != scope_generation)
		return;					/* that scope was ended otherwise */
	if (py_nesting > 0)
		scope_end_pending = true;
	else
		scope_end();
}

/*
 * Enter the Python scope for the statement whose memory is cxt (a no-op
 * when already inside one): cancel interrupts Python and blocking system
 * calls until cxt goes away.  Starts Python on first use.
 */
void
oml_py_enter(MemoryContext cxt)
{
	ScopeCallback *sc;

	if (likely(scope_active))
		return;
	oml_py_init();
	sc = MemoryContextAllocZero(cxt, sizeof(ScopeCallback));
	sc->generation = ++scope_generation;
	sc->cb.func = scope_callback_fn;
	sc->cb.arg = sc;
	install_handlers(false);
	/* Drop an interrupt tripped after the previous statement's Python. */
	if (PyErr_CheckSignals() < 0)
		PyErr_Clear();
	in_python = 1;
	scope_active = true;
	scope_end_pending = false;
	oml_state_save_locale();
	MemoryContextRegisterResetCallback(cxt, &sc->cb);
}

/*
 * Report a pending cancel or termination (an ERROR or FATAL) if there is
 * one; returns otherwise.  No Python references may be held.
 */
static void
report_pending_cancel(void)
{
	if (!cancel_pending())
		return;
	CHECK_FOR_INTERRUPTS();
	if (cancel_seen)
	{
		cancel_seen = false;
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s", cancel_message)));
	}
}

/*
 * Clear a Python error met while converting a value; if it was a cancel,
 * report the cancel instead of whatever the caller would report.
 */
void
oml_py_clear_error(void)
{
	PyErr_Clear();
	report_pending_cancel();
}

/*
 * Roll back the current subtransaction, where Python frames are live: an
 * error here cannot be thrown through them, and leaves nothing sane to go
 * on with, so it ends the session.
 */
static void
rollback_subxact(void)
{
	PG_TRY();
	{
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not roll back a subtransaction of an oml_store script")));
	}
	PG_END_TRY();
}

/*
 * Build a Python SPIError from a PostgreSQL error and set it.
 */
static void
set_spi_error(ErrorData *edata)
{
	PyObject   *exc;
	const char *const names[] = {"sqlstate", "detail", "hint"};
	const char *values[3];

	exc = PyObject_CallFunction(spi_error, "s", edata->message);
	if (exc == NULL)
		return;
	values[0] = unpack_sql_state(edata->sqlerrcode);
	values[1] = edata->detail;
	values[2] = edata->hint;
	for (int i = 0; i < 3; i++)
	{
		PyObject   *v;

		if (values[i] == NULL)
			continue;
		v = PyUnicode_DecodeUTF8(values[i], strlen(values[i]), "replace");
		if (v == NULL || PyObject_SetAttrString(exc, names[i], v) < 0)
			PyErr_Clear();
		Py_XDECREF(v);
	}
	PyErr_SetObject(spi_error, exc);
	Py_DECREF(exc);
}

/*
 * Parser hook: infer parameter types from the statement, as psql would.
 */
typedef struct ParamState
{
	Oid		   *types;
	int			ntypes;
} ParamState;

static void
param_setup(ParseState *pstate, void *arg)
{
	ParamState *ps = (ParamState *) arg;

	setup_parse_variable_parameters(pstate, &ps->types, &ps->ntypes);
}

/*
 * The rows of an SPI result as a Python (names, [row tuples]) pair.  Called
 * inside run_statement's PG_TRY; *held keeps what is being built, for the
 * caller to release if an error is thrown.
 */
static PyObject *
rows_to_py(SPITupleTable *tuptable, uint64 nrows, PyObject *volatile *held)
{
	TupleDesc	desc = tuptable->tupdesc;
	PyObject   *names = PyTuple_New(desc->natts);
	PyObject   *rows = PyList_New(nrows);
	PyObject   *result;

	if (names == NULL || rows == NULL)
	{
		Py_XDECREF(names);
		Py_XDECREF(rows);
		return NULL;
	}
	result = PyTuple_Pack(2, names, rows);
	Py_DECREF(names);
	Py_DECREF(rows);
	if (result == NULL)
		return NULL;
	*held = result;
	for (int c = 0; c < desc->natts; c++)
	{
		PyObject   *name = PyUnicode_FromString(NameStr(TupleDescAttr(desc, c)->attname));

		if (name == NULL)
			return NULL;
		PyTuple_SET_ITEM(names, c, name);
	}
	for (uint64 r = 0; r < nrows; r++)
	{
		PyObject   *row = PyTuple_New(desc->natts);

		CHECK_FOR_INTERRUPTS();
		if (row == NULL)
			return NULL;
		PyList_SET_ITEM(rows, r, row);
		for (int c = 0; c < desc->natts; c++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(tuptable->vals[r], desc, c + 1, &isnull);
			PyObject   *o = oml_datum_to_py(d, isnull,
											TupleDescAttr(desc, c)->atttypid);

			if (o == NULL)
			{
				oml_py_clear_error();
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("could not convert column \"%s\" to a Python value",
								NameStr(TupleDescAttr(desc, c)->attname))));
			}
			PyTuple_SET_ITEM(row, c, o);
		}
	}
	*held = NULL;
	return result;
}

/*
 * One SQL statement run for Python: what run_statement passes to
 * statement_body, and what it gets back.
 */
typedef struct StatementCall
{
	const char *sql;
	PyObject   *params;
	Py_ssize_t	nparams;
	bool		as_columns;
	bool		pinned;
	PyObject   *result;			/* the statement's result */
	PyObject   *held;			/* a reference to drop on error */
} StatementCall;

/*
 * The body of run_statement, inside oml_py_in_subxact's subtransaction.
 */
static void
statement_body(void *arg)
{
	StatementCall *sc = (StatementCall *) arg;
	ParamState ps = {NULL, 0};
	int			gucnest = 0;
	SPIPlanPtr plan;
	ParamListInfo plist;
	int			rc;

	/*
	 * The package's own statements are immune to the caller's
	 * search_path (and so to its operators, functions and types); the
	 * subtransaction's end restores the setting.
	 */
	if (sc->pinned)
	{
		gucnest = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* In SPI's procedure context, which outlives the parse. */
	ps.ntypes = (int) sc->nparams;
	ps.types = palloc0(sizeof(Oid) * Max(sc->nparams, 1));
	plan = SPI_prepare_params(sc->sql, param_setup, &ps, 0);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_params failed: %s",
			 SPI_result_code_string(SPI_result));
	if (ps.ntypes > sc->nparams)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("statement needs %d parameters, %d given",
						ps.ntypes, (int) sc->nparams)));
	plist = makeParamList(ps.ntypes);
	for (int i = 0; i < ps.ntypes; i++)
	{
		ParamExternData *prm = &plist->params[i];
		Oid			typ = ps.types[i];

		sc->held = PySequence_GetItem(sc->params, i);
		if (sc->held == NULL)
		{
			oml_py_clear_error();
			elog(ERROR, "could not read parameter %d", i + 1);
		}
		if (typ == InvalidOid || typ == UNKNOWNOID)
			typ = TEXTOID;
		prm->ptype = typ;
		prm->pflags = PARAM_FLAG_CONST;
		prm->value = oml_py_to_datum(sc->held, typ, -1, &prm->isnull);
		Py_CLEAR(sc->held);
	}
	if (unlikely(oml_forked_child))
		oml_state_child_exit(Py_None);
	if (sc->as_columns && SPI_is_cursor_plan(plan))
		sc->result = oml_execute_to_columns(plan, plist, &rc);
	else
		rc = SPI_execute_plan_with_paramlist(plan, plist, false, 0);
	if (rc == SPI_ERROR_TRANSACTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("transaction control statements cannot be run from an oml_store script"),
				 errhint("The statement that runs the script commits or rolls back its work.")));
	if (rc == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client cannot be run from an oml_store script")));
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_with_paramlist failed: %s",
			 SPI_result_code_string(rc));
	if (sc->result != NULL)
		;					/* gathered as columns already */
	else if (SPI_tuptable == NULL)
		sc->result = Py_BuildValue("(()[])");
	else if (sc->as_columns)
		sc->result = oml_spi_result_to_columns(SPI_tuptable, SPI_processed);
	else
		sc->result = rows_to_py(SPI_tuptable, SPI_processed, &sc->held);
	if (sc->result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Python could not hold the statement's result.")));
	SPI_finish();
	if (sc->pinned)
		AtEOXact_GUC(true, gucnest);
}

/*
 * Run one SQL statement with Python parameters inside a subtransaction.
 * Returns a Python (columns, rows) pair, or NULL with an SPIError set.
 * Parameters are converted through their types' input functions, so
 * Python values are passed as text (None as NULL, bytes as bytea).
 * No PostgreSQL error leaves this function: Python frames are live.
 */
static PyObject *
run_statement(const char *sql, PyObject *params, bool as_columns, bool pinned)
{
	StatementCall sc = {sql, params, params ? PySequence_Size(params) : 0,
	as_columns, pinned, NULL, NULL};

	/* Python code run for params (__len__, __getitem__, __str__) forked. */
	if (unlikely(oml_forked_child))
		oml_state_child_exit(sc.nparams < 0 ? NULL : Py_None);
	if (sc.nparams < 0)
		return NULL;
	if (!oml_py_in_subxact(statement_body, &sc))
	{
		Py_CLEAR(sc.held);
		Py_CLEAR(sc.result);
		return NULL;
	}
	return sc.result;
}

/*
 * Run fn(arg) for Python code that called into PostgreSQL (other files'
 * _oml functions): in a subtransaction, in the data directory with the
 * normal recursion limit.  Returns true, or false with the error set as a
 * Python exception (a cancel also ends the script).
 *
 * In parallel mode (a parallel pyq* call, see parallel.c) no
 * subtransaction can be started: fn runs as it is, and its error is kept
 * in parallel_error and fails the script's call (oml_py_call_guarded).
 */
bool
oml_py_in_subxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			level = GetCurrentTransactionNestLevel();
	bool		subxact = !IsInParallelMode();
	volatile bool started = false;
	volatile bool ok = true;
	int			save_nesting = py_nesting;
	int			save_floor = subxact_floor;
	OmlPgState	script_state;

	if (!subxact && parallel_error != NULL)
	{
		/* An earlier call failed: nothing more runs in this call. */
		PyErr_Clear();
		set_spi_error(parallel_error);
		return false;
	}
	oml_state_enter_pg(&script_state);
	PG_TRY();
	{
		if (subxact)
			BeginInternalSubTransaction(NULL);
		started = subxact;
		MemoryContextSwitchTo(oldcontext);
		fn(arg);
		if (subxact)
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(subxact ? oldcontext : TopTransactionContext);
		edata = CopyErrorData();
		FlushErrorState();
		if (started || (subxact && GetCurrentTransactionNestLevel() > level))
			rollback_subxact();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		py_nesting = save_nesting;
		subxact_floor = save_floor;
		PyErr_Clear();
		oml_py_error_from_pg(edata);
		if (subxact)
			FreeErrorData(edata);
		else
			parallel_error = edata;
		ok = false;
	}
	PG_END_TRY();
	oml_state_leave_pg(&script_state);
	return ok;
}

/*
 * _oml.execute(sql, params=None, pinned=False): run SQL as the calling
 * role; returns (column names, list of row tuples).  pinned runs it with
 * search_path pg_catalog, pg_temp, for the package's own statements.
 */
static PyObject *
py_execute(PyObject *self, PyObject *args)
{
	const char *sql;
	PyObject   *params = NULL;
	int			pinned = 0;

	if (!PyArg_ParseTuple(args, "s|Op", &sql, &params, &pinned) ||
		!on_main_thread())
		return NULL;
	if (params == Py_None)
		params = NULL;
	return run_statement(sql, params, false, pinned != 0);
}

/*
 * _oml.query_columns(sql, params=None): run a query; returns its result
 * column by column, for building a DataFrame without a dict per row.
 */
static PyObject *
py_query_columns(PyObject *self, PyObject *args)
{
	const char *sql;
	PyObject   *params = NULL;

	if (!PyArg_ParseTuple(args, "s|O", &sql, &params) || !on_main_thread())
		return NULL;
	if (params == Py_None)
		params = NULL;
	return run_statement(sql, params, true, false);
}

/*
 * Is frame importlib's own code?  Its clean-up of a failed import (removing
 * the half-initialised module from sys.modules) must run, or every later
 * import of that module in the session fails; the interrupt it propagates
 * goes on once it leaves importlib.
 */
static bool
in_import_machinery(PyFrameObject *frame)
{
	PyCodeObject *code = PyFrame_GetCode(frame);
	const char *file = PyUnicode_Check(code->co_filename) ?
		PyUnicode_AsUTF8(code->co_filename) : NULL;
	bool		result = (file != NULL &&
						  strncmp(file, "<frozen importlib", 17) == 0);

	Py_DECREF(code);
	if (file == NULL)
		PyErr_Clear();
	return result;
}

/*
 * Trace function installed once a cancel reached Python: raises
 * KeyboardInterrupt at every line while the cancel is pending, so a script
 * that catches the first one still stops.  Removed when Python returns.
 */
static int
cancel_tracer(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
	if (cancel_pending() && !in_import_machinery(frame))
	{
		PyErr_SetNone(PyExc_KeyboardInterrupt);
		return -1;
	}
	return 0;
}

/*
 * _oml.rearm_interrupt(): called by the runtime's SIGINT handler as it
 * raises KeyboardInterrupt; keeps interrupting while the cancel is pending.
 */
static PyObject *
py_rearm_interrupt(PyObject *self, PyObject *args)
{
	if (in_python && cancel_pending() && !tracer_on)
	{
		PyEval_SetTrace(cancel_tracer, NULL);
		tracer_on = true;
	}
	Py_RETURN_NONE;
}

/*
 * _oml.reclaim_signals(): called after a script changed a signal handler:
 * SIGINT, SIGTERM and SIGALRM stay PostgreSQL's (chained to Python's
 * SIGINT handler), so timeouts and cancel keep working during the call.
 */
static PyObject *
py_reclaim_signals(PyObject *self, PyObject *args)
{
	if (!oml_forked_child)
		install_handlers(!scope_active);
	Py_RETURN_NONE;
}

/*
 * _oml.nesting(): how many calls from the extension into Python are
 * running (1 in a top-level script, more in one run through oml.sql).
 */
static PyObject *
py_nesting_depth(PyObject *self, PyObject *args)
{
	return PyLong_FromLong(py_nesting);
}

/*
 * Subtransactions opened from Python, innermost last, so that a block of
 * statements (a save) commits or rolls back as one inside a script.
 */
#define OML_MAX_SUBXACT 64
static struct
{
	MemoryContext context;
	ResourceOwner owner;
	int			level;			/* the subtransaction's nest level */
}			subxact_stack[OML_MAX_SUBXACT];
static int	subxact_depth = 0;
static int	subxact_floor = 0;	/* opened by callers further out */

static unsigned long main_thread = 0;

/* While > 0, Python may not run SQL: see oml_py_release. */
static int	sql_blocked = 0;

/*
 * SQL may only be run from the backend's own thread: PostgreSQL is not
 * thread-safe.  Sets a Python error and returns false otherwise.
 */
static bool
on_main_thread(void)
{
	if (unlikely(oml_forked_child))
	{
		PyErr_SetString(PyExc_RuntimeError,
						"oml_store cannot run SQL in a process forked by a script");
		return false;
	}
	if (unlikely(sql_blocked > 0))
	{
		PyErr_SetString(PyExc_RuntimeError,
						"oml_store cannot run SQL while an error is being reported");
		return false;
	}
	if (PyThread_get_thread_ident() == main_thread)
		return true;
	PyErr_SetString(PyExc_RuntimeError,
					"oml_store can run SQL only from the thread that called the script");
	return false;
}

/*
 * Drop a reference where a PostgreSQL error may be propagating (PG_CATCH,
 * PG_FINALLY, memory context callbacks).  Destructors that this runs may
 * not run SQL: its error handling would flush the error being reported
 * (and free it under the feet of the code reporting it).
 */
void
oml_py_release(PyObject **obj)
{
	if (*obj == NULL)
		return;
	sql_blocked++;
	Py_CLEAR(*obj);
	sql_blocked--;
}

/*
 * Forget the stack when the top transaction ends: its subtransactions are
 * gone with it.
 */
static void
subxact_xact_callback(XactEvent event, void *arg)
{
	subxact_depth = 0;
	parallel_error = NULL;		/* was in TopTransactionContext */
	/* A scope whose statement memory outlived the transaction ends here. */
	if (scope_active && py_nesting == 0 &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT ||
		 event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE))
		scope_end();
}

/*
 * _oml.subxact(action): 'begin', 'commit' or 'rollback' a subtransaction.
 */
static PyObject *
py_subxact(PyObject *self, PyObject *args)
{
	const char *action;

	if (!PyArg_ParseTuple(args, "s", &action) || !on_main_thread())
		return NULL;

	/*
	 * Parallel mode has no subtransactions: nothing can be written there,
	 * and an error ends the script's call (see in_parallel_mode).
	 */
	if (IsInParallelMode() &&
		(strcmp(action, "begin") == 0 || strcmp(action, "commit") == 0 ||
		 strcmp(action, "rollback") == 0))
		Py_RETURN_NONE;
	if (strcmp(action, "begin") == 0)
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		volatile bool failed = false;
		int			level = GetCurrentTransactionNestLevel();

		if (subxact_depth >= OML_MAX_SUBXACT)
		{
			PyErr_SetString(PyExc_RuntimeError, "too many nested oml_store transactions");
			return NULL;
		}
		subxact_stack[subxact_depth].context = CurrentMemoryContext;
		subxact_stack[subxact_depth].owner = CurrentResourceOwner;
		PG_TRY();
		{
			BeginInternalSubTransaction(NULL);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			if (GetCurrentTransactionNestLevel() > level)
				rollback_subxact();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = subxact_stack[subxact_depth].owner;
			set_spi_error(edata);
			FreeErrorData(edata);
			failed = true;
		}
		PG_END_TRY();
		if (failed)
			return NULL;
		subxact_stack[subxact_depth].level = GetCurrentTransactionNestLevel();
		subxact_depth++;
		MemoryContextSwitchTo(subxact_stack[subxact_depth - 1].context);
		Py_RETURN_NONE;
	}
	if (strcmp(action, "commit") != 0 && strcmp(action, "rollback") != 0)
	{
		PyErr_Format(PyExc_ValueError, "unknown subtransaction action \"%s\"", action);
		return NULL;
	}
	if (subxact_depth <= subxact_floor)
	{
		PyErr_SetString(PyExc_RuntimeError, "no oml_store transaction of this script is open");
		return NULL;
	}
	/* Python run from inside PostgreSQL (a parameter's __str__): not ours. */
	if (subxact_stack[subxact_depth - 1].level != GetCurrentTransactionNestLevel())
	{
		PyErr_SetString(PyExc_RuntimeError,
						"the script's oml_store transaction cannot be closed while a statement of it runs");
		return NULL;
	}
	subxact_depth--;
	if (action[0] == 'c')
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		PyObject   *volatile failed = NULL;

		PG_TRY();
		{
			ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			rollback_subxact();
			set_spi_error(edata);
			FreeErrorData(edata);
			failed = Py_None;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(subxact_stack[subxact_depth].context);
		CurrentResourceOwner = subxact_stack[subxact_depth].owner;
		if (failed)
			return NULL;
	}
	else
	{
		rollback_subxact();
		MemoryContextSwitchTo(subxact_stack[subxact_depth].context);
		CurrentResourceOwner = subxact_stack[subxact_depth].owner;
	}
	Py_RETURN_NONE;
}

/*
 * Roll back subtransactions a script left open, down to depth.
 */
static void
close_subxacts(int depth)
{
	while (subxact_depth > depth)
	{
		subxact_depth--;
		rollback_subxact();
		MemoryContextSwitchTo(subxact_stack[subxact_depth].context);
		CurrentResourceOwner = subxact_stack[subxact_depth].owner;
	}
}

static PyMethodDef oml_methods[] = {
	{"subxact", py_subxact, METH_VARARGS,
	"Begin, commit or roll back a subtransaction."},
	{"execute", py_execute, METH_VARARGS,
	"Run SQL as the calling role; returns (columns, rows)."},
	{"query_columns", py_query_columns, METH_VARARGS,
	"Run a query; returns its columns for a DataFrame."},
	{"load_objects", oml_py_load_objects, METH_VARARGS,
	"The bytes of a datastore's objects, all written by trusted roles."},
	{"rearm_interrupt", py_rearm_interrupt, METH_NOARGS,
	"Keep interrupting Python while a cancel is pending."},
	{"nesting", py_nesting_depth, METH_NOARGS,
	"How many calls from the extension into Python are running."},
	{"reclaim_signals", py_reclaim_signals, METH_NOARGS,
	"Take SIGINT, SIGTERM and SIGALRM back after a script changed them."},
	{"write", oml_state_py_write, METH_VARARGS,
	"Capture script output (sys.stdout, sys.stderr) for a NOTICE."},
	{NULL, NULL, 0, NULL}
};

static struct PyModuleDef oml_module = {
	PyModuleDef_HEAD_INIT, "_oml",
	"SPI access for oml_store code running inside PostgreSQL.",
	-1, oml_methods
};

/*
 * The directory holding the installed oml_store Python package.
 */
static char *
python_package_dir(void)
{
	char		sharepath[MAXPGPATH];

	get_share_path(my_exec_path, sharepath);
	return psprintf("%s/extension/oml_store_python", sharepath);
}

/*
 * Let plpython3u work after us.  PL/Python registers its built-in module
 * plpy before starting Python, which it cannot do once Python runs; so when
 * plpython3 is installed, load it first: it either starts Python itself, or
 * we register plpy for it before starting Python.
 */
static void
prepare_plpython(void)
{
	char		path[MAXPGPATH];
	PyObject   *(*init_plpy) (void);

	snprintf(path, sizeof(path), "%s/plpython3%s", pkglib_path, DLSUFFIX);
	if (access(path, R_OK) != 0)
		return;
	init_plpy = (PyObject *(*) (void))
		load_external_function("$libdir/plpython3", "PyInit_plpy", false, NULL);
	if (init_plpy != NULL && !Py_IsInitialized())
		PyImport_AppendInittab("plpy", init_plpy);
}

/*
 * Start Python (unless plpython3u did), register _oml, import our runtime
 * and hook cancellation.  Runs once per backend.
 */
void
oml_py_init(void)
{
	PyObject   *mod;
	PyObject   *sys_path;
	PyObject   *dir;

	if (py_ready)
		return;

	/* Python's start-up sets LC_CTYPE from the environment: undo that. */
	oml_state_save_locale();
	if (!Py_IsInitialized())
		prepare_plpython();
	if (!Py_IsInitialized())
		Py_InitializeEx(0);
	oml_state_restore_locale();

	oml_py_convert_init();
	main_thread = PyThread_get_thread_ident();
	main_pthread = pthread_self();

	mod = PyModule_Create(&oml_module);
	if (mod == NULL)
		oml_py_raise(NULL);
	spi_error = PyErr_NewExceptionWithDoc("_oml.SPIError",
										  "An SQL error raised inside embedded Python.",
										  NULL, NULL);
	if (spi_error == NULL || PyModule_AddObjectRef(mod, "SPIError", spi_error) < 0)
		oml_py_raise(NULL);
	if (PyDict_SetItemString(PyImport_GetModuleDict(), "_oml", mod) < 0)
		oml_py_raise(NULL);
	Py_DECREF(mod);

	sys_path = PySys_GetObject("path");	/* borrowed */
	dir = PyUnicode_FromString(python_package_dir());
	if (sys_path == NULL || dir == NULL || PyList_Insert(sys_path, 0, dir) < 0)
		oml_py_raise(NULL);
	Py_DECREF(dir);

	oml_py_runtime = PyImport_ImportModule("oml_store._runtime");
	if (oml_py_runtime == NULL)
		oml_py_raise(NULL);

	/*
	 * setup() gives Python a SIGINT handler (signal.signal also installs it
	 * at the OS level), so take SIGINT back afterwards.
	 */
	{
		sigset_t	block,
					old;

		/* A cancel arriving meanwhile waits, and then reaches us. */
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigprocmask(SIG_BLOCK, &block, &old);
		prev_sigint = pqsignal(SIGINT, oml_sigint);
		mod = PyObject_CallMethod(oml_py_runtime, "setup", NULL);
		pqsignal(SIGINT, mod ? oml_sigint : prev_sigint);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (mod == NULL)
		oml_py_raise(NULL);
	Py_DECREF(mod);
	prev_sigterm = pqsignal(SIGTERM, oml_sigterm);
	prev_sigalrm = pqsignal(SIGALRM, oml_sigalrm);
	RegisterXactCallback(subxact_xact_callback, NULL);
	oml_state_init();

	py_ready = true;
}

/*
 * May a script's exception carry this SQLSTATE?  Five of [0-9A-Z] naming an
 * error: not classes 00, 01, 02 (success, warning, no data), 57 (operator
 * intervention, which clients take for a cancel or shutdown) nor XX
 * (internal error).
 * _runtime.format_exception applies the same rule and keeps a refused
 * code in the detail; this is the last line.
 */
static bool
raisable_sqlstate(const char *code)
{
	if (strlen(code) != 5 ||
		strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
		return false;
	return strncmp(code, "00", 2) != 0 && strncmp(code, "01", 2) != 0 &&
		strncmp(code, "02", 2) != 0 && strncmp(code, "57", 2) != 0 &&
		strncmp(code, "XX", 2) != 0;
}

/*
 * Format the pending Python exception and raise it as a PostgreSQL ERROR.
 *
 * An SPIError keeps the SQLSTATE of the SQL error it carries; an interrupt
 * becomes PostgreSQL's own cancel or termination; anything else is 38000
 * with the traceback in the detail.
 */
void
oml_py_raise(const char *scr_name)
{
	PyObject   *type,
			   *value,
			   *tb;
	PyObject   *formatted = NULL;
	char	   *message = NULL;
	char	   *traceback = NULL;
	char	   *sqlstate = NULL;
	char	   *detail = NULL;
	char	   *hint = NULL;

	if (unlikely(oml_forked_child))
		oml_state_child_exit(NULL);
	PyErr_Fetch(&type, &value, &tb);
	if (type == NULL)
		elog(ERROR, "Python error expected but none is set");
	PyErr_NormalizeException(&type, &value, &tb);

	/* Drop an interrupt still tripped in Python: it would break formatting. */
	if (PyErr_CheckSignals() < 0)
		PyErr_Clear();

	if (cancel_pending())
	{
		Py_CLEAR(type);
		Py_CLEAR(value);
		Py_CLEAR(tb);
		report_pending_cancel();
	}

	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to user request")));
	if (oml_py_runtime)
		formatted = PyObject_CallMethod(oml_py_runtime, "format_exception",
										"OOOz", type, value ? value : Py_None,
										tb ? tb : Py_None, scr_name);
	if (formatted && PyTuple_Check(formatted) && PyTuple_Size(formatted) == 5)
	{
		PyObject   *item;

		for (int i = 0; i < 5; i++)
		{
			const char *s;

			item = PyTuple_GetItem(formatted, i);
			if (item == Py_None || (s = PyUnicode_AsUTF8(item)) == NULL)
				continue;
			switch (i)
			{
				case 0:
					message = pstrdup(s);
					break;
				case 1:
					traceback = pstrdup(s);
					break;
				case 2:
					sqlstate = pstrdup(s);
					break;
				case 3:
					detail = pstrdup(s);
					break;
				case 4:
					hint = pstrdup(s);
					break;
			}
		}
	}
	else if (!cancel_pending())
	{
		PyObject   *str = value ? PyObject_Str(value) : NULL;

		PyErr_Clear();
		if (str && PyUnicode_AsUTF8(str))
			message = pstrdup(PyUnicode_AsUTF8(str));
		Py_XDECREF(str);
	}
	PyErr_Clear();
	Py_XDECREF(formatted);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	/* Formatting or a destructor forked: the child reports nothing. */
	if (unlikely(oml_forked_child))
		oml_state_child_exit(NULL);

	/* A cancel that arrived while formatting (or in a destructor) wins. */
	report_pending_cancel();

	if (message == NULL)
		message = "unknown Python error";
	if (sqlstate && raisable_sqlstate(sqlstate))
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
									   sqlstate[3], sqlstate[4])),
				 errmsg_internal("%s", message),
				 detail ? errdetail_internal("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0,
				 traceback ? errcontext("%s", traceback) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg_internal("%s", message),
			 traceback ? errdetail_internal("%s", traceback) : 0,
			 scr_name ? errcontext("oml_store script \"%s\"", scr_name) : 0));
	pg_unreachable();
}

/*
 * After a top-level call ended by a cancel: let the runtime forget modules
 * that an interrupted import left half-initialised, with the cancel's
 * tracing and interrupts held off meanwhile.  The pending exception stays.
 */
static void
forget_broken_imports(void)
{
	PyObject   *type,
			   *value,
			   *tb;
	PyObject   *res;

	PyErr_Fetch(&type, &value, &tb);
	if (tracer_on)
		PyEval_SetTrace(NULL, NULL);
	in_python = 0;
	if (PyErr_CheckSignals() < 0)
		PyErr_Clear();
	res = PyObject_CallMethod(oml_py_runtime, "forget_broken_imports", NULL);
	if (res == NULL)
		PyErr_Clear();
	Py_XDECREF(res);
	in_python = scope_active;
	if (tracer_on)
		PyEval_SetTrace(cancel_tracer, NULL);
	PyErr_Restore(type, value, tb);
}

/*
 * Call a Python callable with cancellation enabled.  Returns a new
 * reference, or NULL with the Python error set.
 */
PyObject *
oml_py_call_guarded(PyObject *callable, PyObject *args, PyObject *kwargs)
{
	PyObject   *volatile result;
	int			depth;
	int			save_floor;

	/* Callers hold Python references: report a cancel, don't longjmp. */
	if (cancel_pending())
	{
		PyErr_SetNone(PyExc_KeyboardInterrupt);
		return NULL;
	}
	if (unlikely(!scope_active))
		oml_py_enter(CurrentMemoryContext);
	if (py_nesting == 0)
	{
		/* Drop a stale interrupt tripped after the previous call returned. */
		if (PyErr_CheckSignals() < 0)
			PyErr_Clear();
		cancel_seen = false;
	}
	depth = subxact_depth;
	save_floor = subxact_floor;
	subxact_floor = depth;
	py_nesting++;
	result = PyObject_Call(callable, args, kwargs);
	if (unlikely(oml_forked_child))
		oml_state_child_exit(result);
	py_nesting--;
	subxact_floor = save_floor;
	if (subxact_depth > depth)
	{
		close_subxacts(depth);	/* raises nothing: FATAL at worst */
		if (result != NULL)
		{
			Py_DECREF(result);
			result = NULL;
			PyErr_SetString(PyExc_RuntimeError,
							"a transaction opened by the script was left open and has been rolled back");
		}
	}
	if (py_nesting == 0 && parallel_error != NULL)
	{
		/* A call into PostgreSQL failed in parallel mode: so does this. */
		if (result != NULL)
		{
			Py_DECREF(result);
			result = NULL;
			PyErr_Clear();
			set_spi_error(parallel_error);
		}
		parallel_error = NULL;	/* freed with the transaction */
	}
	if (py_nesting == 0 && result == NULL && cancel_pending())
		forget_broken_imports();
	if (py_nesting == 0 && unlikely(oml_state_changed()))
	{
		PyObject   *volatile etype;
		PyObject   *volatile evalue;
		PyObject   *volatile etb;

		/* Put back what the call changed; report its output. */
		PyErr_Fetch((PyObject **) &etype, (PyObject **) &evalue,
					(PyObject **) &etb);
		PG_TRY();
		{
			if (oml_state_after_call())
				install_handlers(!scope_active);
		}
		PG_CATCH();
		{
			oml_py_release((PyObject **) &result);
			oml_py_release((PyObject **) &etype);
			oml_py_release((PyObject **) &evalue);
			oml_py_release((PyObject **) &etb);
			PG_RE_THROW();
		}
		PG_END_TRY();
		PyErr_Restore(etype, evalue, etb);
	}
	if (py_nesting == 0)
	{
		if (tracer_on && !cancel_pending())
		{
			PyEval_SetTrace(NULL, NULL);
			tracer_on = false;
		}
		if (scope_end_pending)
			scope_end();
	}
	if (result != NULL && cancel_pending())
	{
		/* The script swallowed the cancel; it still ends the statement. */
		Py_DECREF(result);
		result = NULL;
		PyErr_SetString(PyExc_KeyboardInterrupt, "cancelled");
	}
	return result;
}

/*
 * Call function fname of the runtime module with a tuple of arguments;
 * raises a PostgreSQL error on a Python exception.  Steals args.
 */
PyObject *
oml_py_runtime_call(const char *fname, PyObject *args)
{
	PyObject   *fn = PyObject_GetAttrString(oml_py_runtime, fname);
	PyObject   *result;

	if (fn == NULL || args == NULL)
	{
		Py_XDECREF(fn);
		Py_XDECREF(args);
		oml_py_raise(NULL);
	}
	result = oml_py_call_guarded(fn, args, NULL);
	Py_DECREF(fn);
	Py_DECREF(args);
	if (result == NULL)
		oml_py_raise(NULL);
	return result;
}

/*
 * Set the Python error for a PostgreSQL error caught where Python called
 * into PostgreSQL (for other files); a cancel also ends the script.
 */
void
oml_py_error_from_pg(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		cancel_seen = true;
		strlcpy(cancel_message, edata->message, sizeof(cancel_message));
		PyErr_SetInterruptEx(SIGINT);
	}
	set_spi_error(edata);
}

/*
 * on_main_thread, for other files.
 */
bool
oml_py_on_main_thread(void)
{
	return on_main_thread();
}

/*
 * The runtime's settings; called from _PG_init.
 */
void
oml_runtime_define_gucs(void)
{
	DefineCustomIntVariable("oml_store.max_output_bytes",
							"Most bytes of script output (sys.stdout, sys.stderr) reported per call.",
							"Output of one call is reported as one NOTICE after the call; "
							"beyond this many bytes it is dropped and counted. 0 discards all output.",
							&oml_max_output_bytes,
							65536, 0, 16 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}
