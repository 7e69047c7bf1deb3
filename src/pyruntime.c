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
 * Cancel: statement_timeout and pg_cancel_backend both arrive as SIGINT,
 * pg_terminate_backend as SIGTERM.  We chain PostgreSQL's handlers and,
 * while Python runs our code, also trip Python's SIGINT so the next
 * bytecode raises KeyboardInterrupt; the error then reaches PostgreSQL's
 * CHECK_FOR_INTERRUPTS, which reports the cancel (or ends the backend).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
static PyObject *spi_error = NULL;	/* _oml.SPIError */

/*
 * Run PostgreSQL's handler, then, while our Python runs, interrupt it.
 */
static void
chain_signal(pqsigfunc prev, int signo)
{
	int			save_errno = errno;

	if (prev)
		prev(signo);
	if (in_python)
		PyErr_SetInterruptEx(SIGINT);
	errno = save_errno;
}

/*
 * SIGINT (cancel, statement_timeout): PostgreSQL's cancel handler first.
 */
static void
oml_sigint(SIGNAL_ARGS)
{
	chain_signal(prev_sigint, postgres_signal_arg);
}

/*
 * SIGTERM (pg_terminate_backend): PostgreSQL's die handler first.
 */
static void
oml_sigterm(SIGNAL_ARGS)
{
	chain_signal(prev_sigterm, postgres_signal_arg);
}

/*
 * Build a Python SPIError from a PostgreSQL error and set it.
 */
static void
set_spi_error(ErrorData *edata)
{
	PyObject   *exc;
	PyObject   *sqlstate;

	exc = PyObject_CallFunction(spi_error, "s", edata->message);
	if (exc == NULL)
		return;
	sqlstate = PyUnicode_FromString(unpack_sql_state(edata->sqlerrcode));
	PyObject_SetAttrString(exc, "sqlstate", sqlstate);
	Py_XDECREF(sqlstate);
	if (edata->detail)
		PyObject_SetAttrString(exc, "detail",
							   PyUnicode_FromString(edata->detail));
	if (edata->hint)
		PyObject_SetAttrString(exc, "hint", PyUnicode_FromString(edata->hint));
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
 * Run one SQL statement with Python parameters inside a subtransaction.
 * Returns a Python (columns, rows) pair, or NULL with an SPIError set.
 * Parameters are converted through their types' input functions, so
 * Python values are passed as text (None as NULL, bytes as bytea).
 */
static PyObject *
run_statement(const char *sql, PyObject *params, bool as_columns, bool pinned)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	PyObject   *volatile result = NULL;
	Py_ssize_t	nparams = params ? PySequence_Size(params) : 0;
	int			save_nesting = py_nesting;
	int			save_floor = subxact_floor;

	if (nparams < 0)
		return NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
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
		if (pinned)
		{
			gucnest = NewGUCNestLevel();
			(void) set_config_option("search_path", "pg_catalog, pg_temp",
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* In SPI's procedure context, which outlives the parse. */
		ps.ntypes = (int) nparams;
		ps.types = palloc0(sizeof(Oid) * Max(nparams, 1));
		plan = SPI_prepare_params(sql, param_setup, &ps, 0);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare_params failed: %s",
				 SPI_result_code_string(SPI_result));
		if (ps.ntypes > nparams)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_PARAMETER),
					 errmsg("statement needs %d parameters, %d given",
							ps.ntypes, (int) nparams)));
		plist = makeParamList(ps.ntypes);
		for (int i = 0; i < ps.ntypes; i++)
		{
			ParamExternData *prm = &plist->params[i];
			PyObject   *v = PySequence_GetItem(params, i);
			Oid			typ = ps.types[i];

			if (v == NULL)
				elog(ERROR, "could not read parameter %d", i + 1);
			if (typ == InvalidOid || typ == UNKNOWNOID)
				typ = TEXTOID;
			prm->ptype = typ;
			prm->pflags = PARAM_FLAG_CONST;
			prm->value = oml_py_to_datum(v, typ, -1, &prm->isnull);
			Py_DECREF(v);
		}
		if (as_columns && SPI_is_cursor_plan(plan))
			result = oml_execute_to_columns(plan, plist, &rc);
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
		if (result != NULL)
			;					/* gathered as columns already */
		else if (SPI_tuptable == NULL)
			result = Py_BuildValue("(()[])");
		else if (as_columns)
		{
			result = oml_spi_result_to_columns(SPI_tuptable, SPI_processed);
		}
		else
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;
			PyObject   *names = PyTuple_New(desc->natts);
			PyObject   *rows = PyList_New(SPI_processed);

			for (int c = 0; c < desc->natts; c++)
				PyTuple_SET_ITEM(names, c,
								 PyUnicode_FromString(NameStr(TupleDescAttr(desc, c)->attname)));
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				PyObject   *row = PyTuple_New(desc->natts);

				for (int c = 0; c < desc->natts; c++)
				{
					bool		isnull;
					Datum		d = SPI_getbinval(SPI_tuptable->vals[r], desc,
												  c + 1, &isnull);
					PyObject   *o = oml_datum_to_py(d, isnull,
													TupleDescAttr(desc, c)->atttypid);

					if (o == NULL)
					{
						PyErr_Clear();
						ereport(ERROR,
								(errcode(ERRCODE_DATATYPE_MISMATCH),
								 errmsg("could not convert column \"%s\" to a Python value",
										NameStr(TupleDescAttr(desc, c)->attname))));
					}
					PyTuple_SET_ITEM(row, c, o);
				}
				PyList_SET_ITEM(rows, r, row);
			}
			result = PyTuple_Pack(2, names, rows);
			Py_DECREF(names);
			Py_DECREF(rows);
		}
		SPI_finish();
		if (pinned)
			AtEOXact_GUC(true, gucnest);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		py_nesting = save_nesting;	/* nested Python left by the error */
		subxact_floor = save_floor;
		in_python = 1;
		Py_XDECREF(result);
		result = NULL;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			cancel_seen = true;
			strlcpy(cancel_message, edata->message, sizeof(cancel_message));
			PyErr_SetInterruptEx(SIGINT);
		}
		set_spi_error(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return result;
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
 * Trace function installed once a cancel reached Python: raises
 * KeyboardInterrupt at every line while the cancel is pending, so a script
 * that catches the first one still stops.  Removed when Python returns.
 */
static int
cancel_tracer(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
	if (cancel_pending())
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
 * Subtransactions opened from Python, innermost last, so that a block of
 * statements (a save) commits or rolls back as one inside a script.
 */
#define OML_MAX_SUBXACT 64
static struct
{
	MemoryContext context;
	ResourceOwner owner;
}			subxact_stack[OML_MAX_SUBXACT];
static int	subxact_depth = 0;
static int	subxact_floor = 0;	/* opened by callers further out */

static unsigned long main_thread = 0;

/*
 * SQL may only be run from the backend's own thread: PostgreSQL is not
 * thread-safe.  Sets a Python error and returns false otherwise.
 */
static bool
on_main_thread(void)
{
	if (PyThread_get_thread_ident() == main_thread)
		return true;
	PyErr_SetString(PyExc_RuntimeError,
					"oml_store can run SQL only from the thread that called the script");
	return false;
}

/*
 * Forget the stack when the top transaction ends: its subtransactions are
 * gone with it.
 */
static void
subxact_xact_callback(XactEvent event, void *arg)
{
	subxact_depth = 0;
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
	if (strcmp(action, "begin") == 0)
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		volatile bool failed = false;

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
			set_spi_error(edata);
			FreeErrorData(edata);
			failed = true;
		}
		PG_END_TRY();
		if (failed)
			return NULL;
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
			RollbackAndReleaseCurrentSubTransaction();
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
		RollbackAndReleaseCurrentSubTransaction();
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
		RollbackAndReleaseCurrentSubTransaction();
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

	if (!Py_IsInitialized())
		prepare_plpython();
	if (!Py_IsInitialized())
		Py_InitializeEx(0);

	oml_py_convert_init();
	main_thread = PyThread_get_thread_ident();

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
	RegisterXactCallback(subxact_xact_callback, NULL);

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
		CHECK_FOR_INTERRUPTS();
		if (cancel_seen)
		{
			cancel_seen = false;
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("%s", cancel_message)));
		}
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
	else
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
 * Call a Python callable with cancellation enabled.  Returns a new
 * reference, or NULL with the Python error set.
 */
PyObject *
oml_py_call_guarded(PyObject *callable, PyObject *args, PyObject *kwargs)
{
	PyObject   *result;
	int			depth;
	int			save_floor;

	/* Callers hold Python references: report a cancel, don't longjmp. */
	if (cancel_pending())
	{
		PyErr_SetNone(PyExc_KeyboardInterrupt);
		return NULL;
	}
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
	in_python = 1;
	result = PyObject_Call(callable, args, kwargs);
	py_nesting--;
	subxact_floor = save_floor;
	if (py_nesting == 0)
	{
		in_python = 0;
		if (tracer_on)
		{
			PyEval_SetTrace(NULL, NULL);
			tracer_on = false;
		}
	}
	if (result != NULL && cancel_pending())
	{
		/* The script swallowed the cancel; it still ends the statement. */
		Py_DECREF(result);
		result = NULL;
		PyErr_SetString(PyExc_KeyboardInterrupt, "cancelled");
	}
	if (subxact_depth > depth)
	{
		close_subxacts(depth);
		if (result != NULL)
		{
			Py_DECREF(result);
			PyErr_SetString(PyExc_RuntimeError,
							"a transaction opened by the script was left open and has been rolled back");
			result = NULL;
		}
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
