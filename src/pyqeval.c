/*-------------------------------------------------------------------------
 *
 * pyqeval.c
 *	  pyqEval, pyqTableEval, pyqRowEval, pyqGroupEval and pyqIndexEval:
 *	  run a stored script in embedded Python and return its result as
 *	  JSON, XML, PNG images or relational rows.
 *
 * Input rows are read through an SPI cursor as the calling role, gathered
 * column by column (pyconvert.c) and handed to the script as a DataFrame,
 * a recarray or an ndarray.  pyqRowEval and pyqGroupEval stream: only one
 * chunk or group is in Python at a time.  Results go to a tuplestore.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "tcop/dest.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include <math.h>

#include "utils/builtins.h"
#include "parser/scansup.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/typcache.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "oml_store.h"
#include "parallel.h"
#include "roles.h"

PG_FUNCTION_INFO_V1(oml_pyq_eval);
PG_FUNCTION_INFO_V1(oml_pyq_table_eval);
PG_FUNCTION_INFO_V1(oml_pyq_row_eval);
PG_FUNCTION_INFO_V1(oml_pyq_group_eval);
PG_FUNCTION_INFO_V1(oml_pyq_index_eval);

/* Rows fetched from the input cursor at a time. */
#define OML_FETCH_ROWS 10000

/* Bounds on par_lst, checked before Python parses it. */
#define OML_PAR_LST_MAXLEN (16 * 1024 * 1024)
#define OML_PAR_LST_MAXDEPTH 64

typedef enum EvalKind
{
	EVAL_EVAL,
	EVAL_TABLE,
	EVAL_ROW,
	EVAL_GROUP,
	EVAL_INDEX
} EvalKind;

/*
 * What one pyq* call was asked to do.
 */
typedef struct EvalCall
{
	EvalKind	kind;
	char	   *inp_nam;
	char	   *par_lst;
	char	   *out_fmt;		/* JSON, XML, PNG, PICKLE or TEXT (a NULL
								 * out_fmt of the text overloads); NULL:
								 * relational */
	int			row_num;
	char	   *grp_col;
	char	   *ord_col;
	int			times_num;
	char	   *scr_name;
	char	   *scr_owner;
	OmlRun	   *run;			/* the call's record (runrecord.c) */
} EvalCall;

/*
 * What stays the same from one call to the next in one statement, kept in
 * fn_extra: the compiled function of the script last found (for that
 * caller and source) and the parsed par_lst.
 */
typedef struct EvalCache
{
	Oid			caller;
	OmlScript	scr;
	PyObject   *func;
	char	   *par_lst;
	PyObject   *kwargs;
	PyObject   *controls;		/* (input_type, na_omit, graphics, mutable,
								 * service_level, parallel) */
	bool		na_omit;		/* controls' na_omit: drop rows with NULLs */
	int			parallel;		/* controls' parallel: 1 serial, 0 the
								 * default degree, else the degree */
	bool		scalar;			/* desc is one column of a scalar type */
	bool		level_noted;	/* the service level NOTICE was given */
	PyObject   *run_fn;			/* oml_store._runtime.run */
	PyObject   *fmt_obj;		/* out_fmt as a Python str, or None */
	TupleDesc	desc;			/* result columns, in fn_mcxt */
	int			nlive;			/* its columns that are not dropped */
	PyObject   *names;			/* their names (None: unnamed), a tuple */
	bool		sandboxed;		/* func is None: the script runs in ... */
	OmlSandbox *sandbox;		/* ... this sandbox (sandbox.c) */
	OmlStatBatch stats;			/* statistics not yet in shared memory */
} EvalCache;

/*
 * Python objects one call holds, released whatever happens.
 */
typedef struct EvalRefs
{
	PyObject   *args;
	PyObject   *frame;
	PyObject   *rows;
} EvalRefs;

/*
 * One call being run, as parallel.c sees it (opaque there).
 */
struct OmlEvalRun
{
	FunctionCallInfo fcinfo;
	EvalCall   *call;
	EvalCache  *cache;
	EvalRefs   *refs;
};

static void compile_script(EvalCache *cache, MemoryContext fn_mcxt,
						   Oid caller, OmlScript *scr);
static void set_params(EvalCache *cache, MemoryContext fn_mcxt,
					   const char *par_lst);

/*
 * Release the cache's Python objects when the statement's memory goes.
 */
static void
cache_release(void *arg)
{
	EvalCache  *cache = (EvalCache *) arg;

	/* The statement's statistics (raises no error). */
	oml_stat_flush(&cache->stats);
	/* Also during an abort: destructors may not run SQL. */
	oml_py_release(&cache->func);
	oml_py_release(&cache->kwargs);
	oml_py_release(&cache->controls);
	oml_py_release(&cache->run_fn);
	oml_py_release(&cache->fmt_obj);
	oml_py_release(&cache->names);
	oml_sandbox_close(cache->sandbox);
}

/*
 * A new, empty call cache in cxt, released (its Python references
 * dropped) when cxt is reset or deleted.
 */
static EvalCache *
new_eval_cache(MemoryContext cxt)
{
	EvalCache  *cache = MemoryContextAllocZero(cxt, sizeof(EvalCache));
	MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

	cb->func = cache_release;
	cb->arg = cache;
	MemoryContextRegisterResetCallback(cxt, cb);
	return cache;
}

/*
 * A text argument that must be given.
 */
static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return oml_arg_text(fcinfo, argno);
}

/*
 * A positive integer argument.
 */
static int
positive_int(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int			v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	v = PG_GETARG_INT32(argno);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", what),
				 errdetail("The value given was %d.", v)));
	return v;
}

/* The scr_name argument oml_check_name passed last, in TopMemoryContext. */
static char *checked_name = NULL;

/*
 * The scr_name argument, checked by oml_check_name unless it is the name
 * that passed last (the same string passes the same checks: they look at
 * nothing else).
 */
static char *
checked_script_name(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (checked_name != NULL && !PG_ARGISNULL(argno))
	{
		name = oml_arg_text(fcinfo, argno);
		if (strcmp(name, checked_name) == 0)
			return name;
	}
	name = oml_check_name("script", fcinfo, argno);
	if (checked_name != NULL)
		pfree(checked_name);
	checked_name = NULL;
	checked_name = MemoryContextStrdup(TopMemoryContext, name);
	return name;
}

/*
 * The out_fmt argument fmt: JSON, XML, PNG, PICKLE, TEXT (a NULL out_fmt
 * of the text overloads) or NULL for relational output.  JOB (the pickled
 * result and figures, kept for pyqJobResult) only in a job worker.
 */
static char *
read_out_fmt(FunctionCallInfo fcinfo, int fmt)
{
	Oid			fmt_type = get_fn_expr_argtype(fcinfo->flinfo, fmt);

	if ((fmt_type == TEXTOID || fmt_type == UNKNOWNOID) && PG_ARGISNULL(fmt))
	{
		/*
		 * NULL::text picks the overloads that return name, id, value, title,
		 * image (text is not polymorphic): text output, each result value
		 * as text in value.
		 */
		return "TEXT";
	}
	else if (fmt_type == TEXTOID || fmt_type == UNKNOWNOID)
	{
		char	   *f = oml_arg_text(fcinfo, fmt);

		if (pg_strcasecmp(f, "json") == 0)
			return "JSON";
		else if (pg_strcasecmp(f, "xml") == 0)
			return "XML";
		else if (pg_strcasecmp(f, "png") == 0)
			return "PNG";
		else if (pg_strcasecmp(f, "pickle") == 0)
			return "PICKLE";
		else if (oml_in_job_worker && strcmp(f, "JOB") == 0)
			return "JOB";
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown out_fmt \"%s\"", f),
					 errhint("Use 'JSON', 'XML' or 'PNG', or for rows pass NULL::a_row_type (or NULL::record with a column definition list).")));
	}
	return NULL;
}

/*
 * Read the arguments of the pyq* function kind.
 */
static void
read_call(FunctionCallInfo fcinfo, EvalKind kind, EvalCall *call, OmlRun *run)
{
	int			par = 0,
				fmt = 1,
				scr = 2;

	memset(call, 0, sizeof(EvalCall));
	call->run = run;
	call->kind = kind;
	switch (kind)
	{
		case EVAL_EVAL:
			break;
		case EVAL_TABLE:
			par = 1, fmt = 2, scr = 3;
			break;
		case EVAL_ROW:
			par = 1, fmt = 2, scr = 4;
			call->row_num = positive_int(fcinfo, 3, "row_num");
			break;
		case EVAL_GROUP:
			par = 1, fmt = 2, scr = 5;
			call->grp_col = required_text(fcinfo, 3, "grp_col");
			if (call->grp_col[strspn(call->grp_col, " \t\r\n")] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("grp_col must not be empty"),
						 errhint("Give one or more column names separated by commas.")));
			if (!PG_ARGISNULL(4))
				call->ord_col = oml_arg_text(fcinfo, 4);
			break;
		case EVAL_INDEX:
			scr = 3;
			call->times_num = positive_int(fcinfo, 2, "times_num");
			break;
	}
	if (kind == EVAL_TABLE || kind == EVAL_ROW || kind == EVAL_GROUP)
	{
		call->inp_nam = required_text(fcinfo, 0, "inp_nam");
		if (call->inp_nam[strspn(call->inp_nam, " \t\r\n")] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("inp_nam must not be empty"),
					 errhint("Give a table or view name, or a SELECT query.")));
	}
	run->inp_nam = call->inp_nam;
	/* The name as given, for the run log (a script it names may not exist). */
	if (oml_log_runs != OML_LOG_OFF && !PG_ARGISNULL(scr))
		run->scr_name = oml_arg_text(fcinfo, scr);
	if (!PG_ARGISNULL(scr + 1))
		run->scr_owner = call->scr_owner = oml_arg_text(fcinfo, scr + 1);
	if (!PG_ARGISNULL(par))
		call->par_lst = oml_arg_text(fcinfo, par);
	call->scr_name = checked_script_name(fcinfo, scr);

	call->out_fmt = read_out_fmt(fcinfo, fmt);
}

/*
 * Refuse a par_lst that is too large or nests arrays and objects too
 * deeply, before Python's json module (which recurses) sees it.  Only
 * brackets outside strings count; the rest of the syntax is left to the
 * parser.
 */
static void
check_par_lst(const char *par_lst)
{
	size_t		len = strlen(par_lst);
	int			depth = 0;
	bool		in_string = false;

	if (len > OML_PAR_LST_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("par_lst is too large"),
				 errdetail("par_lst is at most %d bytes; this one has %zu.",
						   OML_PAR_LST_MAXLEN, len),
				 errhint("Pass data through inp_nam or a datastore.")));
	for (size_t i = 0; i < len; i++)
	{
		char		c = par_lst[i];

		if ((i & 0xFFFFF) == 0xFFFFF)
			CHECK_FOR_INTERRUPTS();
		if (in_string)
		{
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > OML_PAR_LST_MAXDEPTH)
				ereport(ERROR,
						(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
						 errmsg("par_lst is nested too deeply"),
						 errdetail("par_lst may nest arrays and objects at most %d levels deep.",
								   OML_PAR_LST_MAXDEPTH)));
		}
		else if (c == ']' || c == '}')
			depth--;
	}
}

/*
 * Objects of the runtime module the hot path uses, fetched once per
 * backend (again if the module object changes): its get_function and run,
 * the JSON scanner json.loads uses, and the two control tuples of a par_lst
 * without controls.
 */
typedef struct RuntimeRefs
{
	PyObject   *module;			/* the module they came from (no reference) */
	PyObject   *get_function;
	PyObject   *run;
	PyObject   *scan;
	PyObject   *default_controls;
	PyObject   *mutable_controls;
	PyObject   *prefix;			/* "oml_", the controls' prefix */
} RuntimeRefs;

static RuntimeRefs rt;

/*
 * Fill rt for the current runtime module; false (no Python error set) if
 * the runtime lacks one of them.
 */
static bool
runtime_refs(void)
{
	if (likely(rt.module == oml_py_runtime && rt.module != NULL))
		return true;
	Py_CLEAR(rt.get_function);
	Py_CLEAR(rt.run);
	Py_CLEAR(rt.scan);
	Py_CLEAR(rt.default_controls);
	Py_CLEAR(rt.mutable_controls);
	Py_CLEAR(rt.prefix);
	rt.module = NULL;
	if (oml_py_runtime == NULL)
		return false;
	rt.get_function = PyObject_GetAttrString(oml_py_runtime, "get_function");
	rt.run = PyObject_GetAttrString(oml_py_runtime, "run");
	rt.scan = PyObject_GetAttrString(oml_py_runtime, "_scan_json");
	rt.default_controls = PyObject_GetAttrString(oml_py_runtime, "_DEFAULT_CONTROLS");
	rt.mutable_controls = PyObject_GetAttrString(oml_py_runtime, "_MUTABLE_CONTROLS");
	rt.prefix = PyUnicode_InternFromString("oml_");
	if (rt.get_function == NULL || rt.run == NULL || rt.scan == NULL ||
		rt.default_controls == NULL || rt.mutable_controls == NULL ||
		rt.prefix == NULL)
	{
		PyErr_Clear();
		return false;
	}
	rt.module = oml_py_runtime;
	return true;
}

/*
 * The runtime's parse_par_lst for its common case, without its Python
 * frames: a JSON object (with JSON white space around it) whose keys are
 * not controls.  Returns the same (kwargs, controls) tuple, or NULL with no
 * Python error set when the runtime must decide (controls, a value that is
 * not an object, invalid JSON: it gives the same value or error).
 */
static PyObject *
parse_par_lst_fast(const char *par_lst)
{
	PyObject   *text;
	PyObject   *scanned;
	PyObject   *params;
	PyObject   *key;
	PyObject   *value;
	Py_ssize_t	pos = 0;
	Py_ssize_t	start;
	Py_ssize_t	stop;
	Py_ssize_t	end;
	bool		mutable = false;
	size_t		len;

	if (par_lst == NULL || !runtime_refs())
		return NULL;

	/* JSON white space is ASCII: byte offsets are character offsets. */
	len = strlen(par_lst);
	start = strspn(par_lst, " \t\n\r");
	if ((size_t) start == len)
		return NULL;			/* empty: the runtime's case */
	while (len > 0 && strchr(" \t\n\r", par_lst[len - 1]) != NULL)
		len--;
	text = PyUnicode_FromString(par_lst);
	if (text == NULL)
	{
		PyErr_Clear();
		return NULL;
	}
	/* Characters before the trailing white space. */
	stop = PyUnicode_GET_LENGTH(text) - (Py_ssize_t) (strlen(par_lst) - len);
	scanned = PyObject_CallFunction(rt.scan, "On", text, start);
	Py_DECREF(text);
	if (scanned == NULL)
	{
		PyErr_Clear();			/* the runtime reports it */
		return NULL;
	}
	if (!PyTuple_Check(scanned) || PyTuple_GET_SIZE(scanned) != 2 ||
		(end = PyLong_AsSsize_t(PyTuple_GET_ITEM(scanned, 1))) != stop ||
		!PyDict_CheckExact(PyTuple_GET_ITEM(scanned, 0)))
	{
		PyErr_Clear();
		Py_DECREF(scanned);
		return NULL;
	}
	params = PyTuple_GET_ITEM(scanned, 0);
	while (PyDict_Next(params, &pos, &key, &value))
	{
		if (!PyUnicode_Check(key) ||
			PyUnicode_Tailmatch(key, rt.prefix, 0, PY_SSIZE_T_MAX, -1) != 0)
		{
			PyErr_Clear();
			Py_DECREF(scanned);
			return NULL;		/* a control (or an error): the runtime's */
		}
		if (PyList_CheckExact(value) || PyDict_CheckExact(value))
			mutable = true;
	}
	value = Py_BuildValue("(OO)", params,
						  mutable ? rt.mutable_controls : rt.default_controls);
	Py_DECREF(scanned);
	if (value == NULL)
		oml_py_raise(NULL);
	return value;
}

/*
 * oml_service_level is accepted for OML4Py's SQL API, but has nothing to
 * cap here: say so once per statement.
 */
static void
note_service_level(EvalCache *cache)
{
	PyObject   *level = PyTuple_GET_ITEM(cache->controls, 4);
	const char *s;

	if (level == Py_None || cache->level_noted)
		return;
	s = PyUnicode_AsUTF8(level);
	if (s == NULL)
		oml_py_raise(NULL);
	cache->level_noted = true;
	ereport(NOTICE,
			(errmsg("oml_service_level \"%s\" has no effect", s),
			 errdetail("There is no job priority to set; oml_parallel_degree sets the degree of parallelism.")));
}

/*
 * The compiled functions this backend ran lately, one per script and role
 * as the runtime's get_function keeps them, so that a statement's first
 * call need not ask the runtime: an entry is used only for the same script
 * id, role, name and exact source, so it is what get_function returns.
 */
#define COMPILED_CACHE_SIZE 16

typedef struct CompiledEntry
{
	PyObject   *func;			/* NULL: unused */
	Oid			caller;
	int64		id;
	bool		readable;		/* compiled for a caller who may read it */
	char	   *name;			/* in TopMemoryContext */
	char	   *source;
} CompiledEntry;

static CompiledEntry compiled[COMPILED_CACHE_SIZE];
static int	compiled_next = 0;
static PyObject *compiled_runtime = NULL;	/* their runtime module */

/*
 * Empty one entry of compiled.
 */
static void
compiled_clear(CompiledEntry *e)
{
	Py_CLEAR(e->func);
	if (e->name)
		pfree(e->name);
	if (e->source)
		pfree(e->source);
	e->name = e->source = NULL;
}

/*
 * The compiled function of script scr for role caller (a new reference):
 * from compiled, or from the runtime's get_function (then kept).
 */
static PyObject *
compiled_function(Oid caller, OmlScript *scr)
{
	CompiledEntry *slot = NULL;
	PyObject   *fn;
	PyObject   *args;
	PyObject   *func;
	char	   *name;
	char	   *source;

	if (compiled_runtime != oml_py_runtime)
	{
		for (int i = 0; i < COMPILED_CACHE_SIZE; i++)
			compiled_clear(&compiled[i]);
		compiled_runtime = oml_py_runtime;
	}
	for (int i = 0; i < COMPILED_CACHE_SIZE; i++)
	{
		CompiledEntry *e = &compiled[i];

		if (e->func && e->caller == caller && e->id == scr->id)
		{
			if (e->readable == scr->readable &&
				strcmp(e->name, scr->name) == 0 &&
				strcmp(e->source, scr->source) == 0)
				return Py_NewRef(e->func);
			slot = e;			/* get_function replaces it too */
			break;
		}
	}

	fn = runtime_refs() ? Py_NewRef(rt.get_function) :
		PyObject_GetAttrString(oml_py_runtime, "get_function");
	args = Py_BuildValue("(LIssO)", (long long) scr->id, (unsigned int) caller,
						 scr->name, scr->source,
						 scr->readable ? Py_True : Py_False);
	func = (fn && args) ? oml_py_call_guarded(fn, args, NULL) : NULL;
	Py_XDECREF(fn);
	Py_XDECREF(args);
	if (func == NULL)
		oml_py_raise(scr->name);	/* e.g. a failed import at top level */

	/* Keep it, unless memory is short (then the next call asks again). */
	if (slot == NULL)
	{
		slot = &compiled[compiled_next];
		compiled_next = (compiled_next + 1) % COMPILED_CACHE_SIZE;
	}
	compiled_clear(slot);
	name = MemoryContextAllocExtended(TopMemoryContext, strlen(scr->name) + 1,
									  MCXT_ALLOC_NO_OOM);
	source = MemoryContextAllocExtended(TopMemoryContext, strlen(scr->source) + 1,
										MCXT_ALLOC_NO_OOM);
	if (name == NULL || source == NULL)
	{
		if (name)
			pfree(name);
		if (source)
			pfree(source);
		return func;
	}
	strcpy(name, scr->name);
	strcpy(source, scr->source);
	slot->caller = caller;
	slot->id = scr->id;
	slot->readable = scr->readable;
	slot->name = name;
	slot->source = source;
	slot->func = Py_NewRef(func);
	return func;
}

/*
 * The cached script, function and arguments for this call.  The script is
 * looked up on every call (the script cache makes that cheap, and copies
 * no source when the result is the one this call site has), so each call
 * runs what an uncached lookup finds, after its own readability check; the
 * compiled function is kept while the caller, script and source stay the
 * same.
 */
static EvalCache *
get_cache(FunctionCallInfo fcinfo, EvalCall *call)
{
	EvalCache  *cache = (EvalCache *) fcinfo->flinfo->fn_extra;
	MemoryContext fn_mcxt = fcinfo->flinfo->fn_mcxt;
	Oid			caller = GetUserId();
	bool		have_func;
	OmlScript	scr;

	if (cache == NULL)
	{
		cache = new_eval_cache(fn_mcxt);
		fcinfo->flinfo->fn_extra = cache;
	}
	call->run->batch = &cache->stats;

	have_func = cache->func != NULL && cache->caller == caller;
	oml_script_find_known(call->scr_name, call->scr_owner,
						  have_func ? cache->scr.serial : 0, true, &scr);
	/*
	 * The same result, but the caller's right to read it changed (role
	 * membership): compile again, so tracebacks show lines only to readers.
	 */
	if (scr.source == NULL && cache->scr.readable != scr.readable)
		oml_script_find_known(call->scr_name, call->scr_owner, 0, true, &scr);
	oml_run_set_script(call->run, &scr);
	/* scr.source is NULL when the lookup result is the one we have */
	if (scr.source != NULL && have_func && cache->scr.id == scr.id &&
		cache->scr.readable == scr.readable &&
		strcmp(cache->scr.source, scr.source) == 0 &&
		cache->sandboxed == (scr.sandbox || oml_sandbox_all))
		cache->scr.serial = scr.serial; /* found again, same source */
	else if (scr.source != NULL)
		compile_script(cache, fn_mcxt, caller, &scr);
	/* Which version runs, and whose script it is (registry.c). */
	if (cache->scr.alias)
		pfree(cache->scr.alias);
	cache->scr.alias = scr.alias ? MemoryContextStrdup(fn_mcxt, scr.alias) : NULL;
	cache->scr.version = scr.version;
	cache->scr.owner = scr.owner;
	cache->scr.is_global = scr.is_global;
	cache->scr.readable = scr.readable;
	set_params(cache, fn_mcxt, call->par_lst);
	return cache;
}

/*
 * Compile the script scr for caller into the cache.
 */
static void
compile_script(EvalCache *cache, MemoryContext fn_mcxt, Oid caller,
			   OmlScript *scr)
{
	PyObject   *func;

	Py_CLEAR(cache->func);
	oml_py_init();
	/* A sandboxed script is compiled in its sandbox, never here. */
	cache->sandboxed = scr->sandbox || oml_sandbox_all;
	if (cache->sandboxed)
		func = Py_NewRef(Py_None);
	else
		func = compiled_function(caller, scr);
	if (cache->scr.name)
		pfree(cache->scr.name);
	if (cache->scr.source)
		pfree(cache->scr.source);
	cache->caller = caller;
	cache->scr.id = scr->id;
	cache->scr.version = scr->version;
	cache->scr.serial = scr->serial;
	cache->scr.sandbox = scr->sandbox;
	cache->scr.readable = scr->readable;
	cache->scr.name = MemoryContextStrdup(fn_mcxt, scr->name);
	cache->scr.source = MemoryContextStrdup(fn_mcxt, scr->source);
	cache->func = func;
}

/*
 * Parse par_lst into the cache's kwargs and controls, unless it has it.
 */
static void
set_params(EvalCache *cache, MemoryContext fn_mcxt, const char *par_lst)
{
	PyObject   *parsed;
	PyObject   *parallel;

	if (cache->kwargs != NULL &&
		(cache->par_lst == NULL) == (par_lst == NULL) &&
		(cache->par_lst == NULL || strcmp(cache->par_lst, par_lst) == 0))
		return;
	Py_CLEAR(cache->kwargs);
	Py_CLEAR(cache->controls);
	if (par_lst)
		check_par_lst(par_lst);
	parsed = parse_par_lst_fast(par_lst);
	if (parsed == NULL)
		parsed = oml_py_runtime_call("parse_par_lst",
									 Py_BuildValue("(z)", par_lst));
	if (!PyTuple_Check(parsed) || PyTuple_Size(parsed) != 2)
		elog(ERROR, "parse_par_lst returned an unexpected value");
	cache->kwargs = Py_NewRef(PyTuple_GET_ITEM(parsed, 0));
	cache->controls = Py_NewRef(PyTuple_GET_ITEM(parsed, 1));
	Py_DECREF(parsed);
	if (!PyTuple_Check(cache->controls) || PyTuple_GET_SIZE(cache->controls) != 6)
		elog(ERROR, "parse_par_lst returned unexpected controls");
	cache->na_omit = PyObject_IsTrue(PyTuple_GET_ITEM(cache->controls, 1)) == 1;
	parallel = PyTuple_GET_ITEM(cache->controls, 5);
	cache->parallel = parallel == Py_None ? 1 : (int) PyLong_AsLong(parallel);
	note_service_level(cache);
	cache->par_lst = par_lst ? MemoryContextStrdup(fn_mcxt, par_lst) : NULL;
}

/*
 * The degree of parallelism the call runs with: a sandboxed script runs
 * in its sandbox, never in parallel workers (which would run it in
 * process), so always serially.
 */
static int
eval_degree(EvalCache *cache)
{
	if (cache->sandboxed)
		return 1;
	return oml_parallel_degree(cache->parallel);
}

/*
 * The SELECT that reads inp_nam: a query as given, or every column of a
 * table or view, which must exist.
 */
static char *
input_query(const char *inp_nam)
{
	const char *p = inp_nam + strspn(inp_nam, " \t\r\n(");
	static const char *const starts[] = {"select", "with", "values", "table", NULL};

	for (int i = 0; starts[i]; i++)
	{
		size_t		n = strlen(starts[i]);

		if (pg_strncasecmp(p, starts[i], n) == 0 &&
			(p[n] == '\0' || !(isalnum((unsigned char) p[n]) || p[n] == '_')))
			return pstrdup(inp_nam);
	}

	{
		List	   *names = stringToQualifiedNameList(inp_nam);
		RangeVar   *rv = makeRangeVarFromNameList(names);
		Oid			relid = RangeVarGetRelid(rv, NoLock, false);

		return psprintf("SELECT * FROM %s",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid)));
	}
}

/*
 * One result column as the runtime hands it over (see _frame_columns).
 */
typedef struct OutCol
{
	char		kind;			/* 'f' float64, 'i' int64, 'b' bool, 'o' list */
	Py_buffer	view;			/* for f, i, b */
	PyObject   *list;			/* for o (borrowed) */
} OutCol;

/*
 * A float64 result value as a datum of type typid; false when the type
 * needs the general conversion.
 */
static bool
float_datum(double v, Oid typid, Datum *d)
{
	switch (typid)
	{
		case FLOAT8OID:
			*d = Float8GetDatum(v);
			return true;
		case FLOAT4OID:
			/* As float8::float4: a finite value out of range is an error. */
			*d = DirectFunctionCall1(dtof, Float8GetDatum(v));
			return true;
		case NUMERICOID:
			*d = DirectFunctionCall1(float8_numeric, Float8GetDatum(v));
			return true;
		default:
			return false;
	}
}

/*
 * An int64 result value as a datum of type typid; false when the type
 * needs the general conversion (which also reports overflow).
 */
static bool
int_datum(int64 v, Oid typid, Datum *d)
{
	switch (typid)
	{
		case INT8OID:
			*d = Int64GetDatum(v);
			return true;
		case INT4OID:
			if (v < PG_INT32_MIN || v > PG_INT32_MAX)
				return false;
			*d = Int32GetDatum((int32) v);
			return true;
		case INT2OID:
			if (v < PG_INT16_MIN || v > PG_INT16_MAX)
				return false;
			*d = Int16GetDatum((int16) v);
			return true;
		case FLOAT8OID:
			*d = Float8GetDatum((double) v);
			return true;
		case NUMERICOID:
			*d = DirectFunctionCall1(int8_numeric, Int64GetDatum(v));
			return true;
		default:
			return false;
	}
}

/*
 * oml_py_to_datum for a new reference, which is released in any case.
 */
static Datum
to_datum_steal(PyObject *obj, Form_pg_attribute att, bool *isnull)
{
	volatile Datum d = (Datum) 0;

	if (obj == NULL)
		oml_py_raise(NULL);
	PG_TRY();
	{
		d = oml_py_to_datum(obj, att->atttypid, att->atttypmod, isnull);
	}
	PG_FINALLY();
	{
		Py_DECREF(obj);
	}
	PG_END_TRY();
	return d;
}

/*
 * Add one result row to the tuplestore, refusing a row over 1 GB (which
 * the tuplestore could not allocate).
 */
static void
put_row(ReturnSetInfo *rsinfo, TupleDesc desc, Datum *values, bool *nulls)
{
	Size		len = MAXALIGN(SizeofMinimalTupleHeader + BITMAPLEN(desc->natts));

	/* An upper bound of heap_compute_data_size, without its overflow. */
	for (int c = 0; c < desc->natts; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, c);

		if (nulls[c])
			continue;
		len += MAXIMUM_ALIGNOF;
		if (att->attlen > 0)
			len += att->attlen;
		else if (att->attlen == -1)
			len += VARSIZE_ANY(DatumGetPointer(values[c]));
		else
			len += strlen(DatumGetCString(values[c])) + 1;
	}
	if (len > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("result row is too large"),
				 errdetail("The row has %zu bytes; a row is at most %zu bytes (1 GB).",
						   (size_t) len, (size_t) MaxAllocSize)));
	tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
}

/*
 * Put a DataFrame result, handed over column by column, into the output:
 * numbers go from numpy's memory to datums without Python objects.
 */
static void
emit_columns(FunctionCallInfo fcinfo, EvalCache *cache, PyObject *res)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc = cache->desc;
	int			natts = desc->natts;
	Py_ssize_t	nrows;
	PyObject   *cols;
	OutCol	   *oc;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	volatile int nviews = 0;

	if (!PyArg_ParseTuple(res, "nO!", &nrows, &PyList_Type, &cols) ||
		PyList_GET_SIZE(cols) != cache->nlive)
	{
		PyErr_Clear();
		elog(ERROR, "oml_store runtime returned malformed columns");
	}
	oc = palloc0(sizeof(OutCol) * natts);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store output rows",
								   ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		for (int c = 0, k = 0; c < natts; c++)
		{
			const char *kind;
			PyObject   *data;

			/* A dropped column of the row type: always NULL. */
			if (TupleDescAttr(desc, c)->attisdropped)
			{
				oc[c].kind = 'd';
				continue;
			}
			if (!PyArg_ParseTuple(PyList_GET_ITEM(cols, k++), "sO", &kind, &data))
			{
				PyErr_Clear();
				elog(ERROR, "oml_store runtime returned a malformed column");
			}
			oc[c].kind = kind[0];
			if (oc[c].kind == 'o')
			{
				if (!PyList_Check(data) || PyList_GET_SIZE(data) != nrows)
					elog(ERROR, "oml_store runtime returned a malformed column");
				oc[c].list = data;
				continue;
			}
			if (PyObject_GetBuffer(data, &oc[c].view, PyBUF_C_CONTIGUOUS) < 0)
			{
				PyErr_Clear();
				elog(ERROR, "could not read a result column's buffer");
			}
			nviews = c + 1;
			if (oc[c].view.len != nrows * (oc[c].kind == 'b' ? 1 : 8))
				elog(ERROR, "oml_store runtime returned a column of the wrong size");
		}

		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (Py_ssize_t r = 0; r < nrows; r++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int c = 0; c < natts; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);
				PyObject   *obj = NULL;

				nulls[c] = false;
				switch (oc[c].kind)
				{
					case 'd':
						values[c] = (Datum) 0;
						nulls[c] = true;
						break;
					case 'f':
						{
							double		v = ((double *) oc[c].view.buf)[r];

							if (isnan(v))
								nulls[c] = true;
							else if (!float_datum(v, att->atttypid, &values[c]))
								obj = PyFloat_FromDouble(v);
							break;
						}
					case 'i':
						{
							int64		v = ((int64 *) oc[c].view.buf)[r];

							if (!int_datum(v, att->atttypid, &values[c]))
								obj = PyLong_FromLongLong(v);
							break;
						}
					case 'b':
						{
							bool		v = ((char *) oc[c].view.buf)[r] != 0;

							if (att->atttypid == BOOLOID)
								values[c] = BoolGetDatum(v);
							else
								obj = PyBool_FromLong(v);
							break;
						}
					default:
						values[c] = oml_py_to_datum(PyList_GET_ITEM(oc[c].list, r),
													att->atttypid, att->atttypmod,
													&nulls[c]);
						break;
				}
				if (obj)
					values[c] = to_datum_steal(obj, att, &nulls[c]);
			}
			put_row(rsinfo, desc, values, nulls);
			if ((r & 1023) == 1023)
				MemoryContextReset(rowcxt);
		}
		MemoryContextSwitchTo(oldcxt);
	}
	PG_FINALLY();
	{
		for (int c = 0; c < nviews; c++)
			if (oc[c].kind != 'o' && oc[c].kind != 'd' && oc[c].view.obj)
				PyBuffer_Release(&oc[c].view);
	}
	PG_END_TRY();
	MemoryContextDelete(rowcxt);
}

/*
 * Put the result of one script call into the output tuplestore, as
 * formatted rows or as relational rows, labelled with name (NULL for
 * pyqEval and pyqTableEval).
 */
static void
emit(FunctionCallInfo fcinfo, EvalCall *call, EvalCache *cache,
	 EvalRefs *refs, const char *label)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc = cache->desc;
	int			natts = desc->natts;
	Datum	   *values;
	bool	   *nulls;
	Py_ssize_t	nrows;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	if (PyTuple_Check(refs->rows))
	{
		emit_columns(fcinfo, cache, refs->rows);
		Py_CLEAR(refs->rows);
		return;
	}
	values = palloc(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	nrows = PyList_Size(refs->rows);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store output rows",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	for (Py_ssize_t r = 0; r < nrows; r++)
	{
		PyObject   *row = PyList_GET_ITEM(refs->rows, r);

		/* refs->rows is released by the caller, whatever happens. */
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);

		if (!PyTuple_Check(row) ||
			PyTuple_GET_SIZE(row) != (call->out_fmt ? 4 : cache->nlive))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("script \"%s\" returned rows that do not match the declared columns",
							cache->scr.name),
					 errdetail("The output declares %d columns.", cache->nlive)));
		if (call->out_fmt)
		{
			/* name, id, value, title, image */
			nulls[0] = (label == NULL);
			if (label)
				values[0] = CStringGetTextDatum(label);
			for (int c = 0; c < 4; c++)
				values[c + 1] = oml_py_to_datum(PyTuple_GET_ITEM(row, c),
												TupleDescAttr(desc, c + 1)->atttypid,
												-1, &nulls[c + 1]);
		}
		else
		{
			for (int c = 0, k = 0; c < natts; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);

				/* A dropped column of the row type: always NULL. */
				if (att->attisdropped)
				{
					values[c] = (Datum) 0;
					nulls[c] = true;
					continue;
				}
				values[c] = oml_py_to_datum(PyTuple_GET_ITEM(row, k++),
											att->atttypid, att->atttypmod,
											&nulls[c]);
			}
		}
		put_row(rsinfo, desc, values, nulls);
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(rowcxt);
	Py_CLEAR(refs->rows);
}

/*
 * out_fmt (one of read_call's names) as a Python str, a new reference:
 * made once per backend.
 */
static PyObject *
format_name(const char *out_fmt)
{
	static const char *const names[] = {"JSON", "XML", "PNG", "PICKLE", "TEXT"};
	static PyObject *objs[lengthof(names)];

	for (int i = 0; i < lengthof(names); i++)
	{
		if (strcmp(out_fmt, names[i]) != 0)
			continue;
		if (objs[i] == NULL)
			objs[i] = PyUnicode_InternFromString(names[i]);
		return objs[i] ? Py_NewRef(objs[i]) : NULL;
	}
	return PyUnicode_InternFromString(out_fmt);
}

/*
 * A job's results are stored pickled and unpickled in the fetching backend
 * (jobs.c): only code that runs in process may make them, never a
 * sandboxed script's, whose bytes could run anything when unpickled.
 */
void
oml_sandboxed_job_refused(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("sandboxed script \"%s\" cannot run as an asynchronous job",
					name),
			 errdetail("A job's results are kept pickled and unpickled inside the server, and a sandboxed script's pickles come from code the server does not trust."),
			 errhint("Run the call without oml_async_flag.")));
}

/*
 * PICKLE rows a sandboxed script made: their bytes come from the sandbox,
 * so the title column says so ("sandboxed"), and the client unpickles them
 * with its restricted unpickler.
 */
static void
mark_sandboxed(PyObject *rows)
{
	PyObject   *mark;

	if (!PyList_Check(rows))
		return;
	mark = PyUnicode_FromString("sandboxed");
	if (mark == NULL)
		oml_py_raise(NULL);
	/* The runtime's formatted rows: (id, value, title, image). */
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++)
	{
		PyObject   *row = PyList_GET_ITEM(rows, i);
		PyObject   *copy;
		Py_ssize_t	n;

		if (!PyTuple_Check(row) || (n = PyTuple_GET_SIZE(row)) != 4)
			continue;
		copy = PyTuple_New(n);
		if (copy == NULL)
		{
			Py_DECREF(mark);
			oml_py_raise(NULL);
		}
		for (Py_ssize_t c = 0; c < n; c++)
		{
			PyObject   *v = c == 2 ? mark : PyTuple_GET_ITEM(row, c);

			PyTuple_SET_ITEM(copy, c, Py_NewRef(v));
		}
		PyList_SetItem(rows, i, copy);	/* drops the old row */
	}
	Py_DECREF(mark);
}

/*
 * Run the script once on args (stolen) and emit its result.
 */
static void
run_once(FunctionCallInfo fcinfo, EvalCall *call, EvalCache *cache,
		 EvalRefs *refs, PyObject *args, const char *label)
{
	PyObject   *callargs;

	refs->args = args;
	if (refs->args == NULL)
		oml_py_raise(NULL);
	if (cache->run_fn == NULL)
	{
		cache->run_fn = runtime_refs() ? Py_NewRef(rt.run) :
			PyObject_GetAttrString(oml_py_runtime, "run");
		if (cache->run_fn == NULL)
			oml_py_raise(NULL);
	}
	if (cache->fmt_obj == NULL ||
		(call->out_fmt == NULL) != (cache->fmt_obj == Py_None) ||
		(call->out_fmt &&
		 PyUnicode_CompareWithASCIIString(cache->fmt_obj, call->out_fmt) != 0))
	{
		Py_CLEAR(cache->fmt_obj);
		cache->fmt_obj = call->out_fmt ? format_name(call->out_fmt) :
			Py_NewRef(Py_None);
		if (cache->fmt_obj == NULL)
			oml_py_raise(NULL);
	}
	if (cache->sandboxed)
		callargs = Py_BuildValue("(OOOOO)", refs->args, cache->kwargs,
								 cache->controls, cache->fmt_obj, cache->names);
	else
		callargs = Py_BuildValue("(OOOOOO)", cache->func, refs->args,
								 cache->kwargs, cache->controls, cache->fmt_obj,
								 cache->names);
	if (callargs == NULL)
		oml_py_raise(NULL);
	{
		/* The loader honours usage grants only inside this (registry.c). */
		Oid			prev = oml_registry_run_begin(cache->scr.owner);
		volatile bool in_sandbox = false;

		PG_TRY();
		{
			if (cache->sandboxed)
			{
				if (oml_in_job_worker)
					oml_sandboxed_job_refused(cache->scr.name);
				/* No role is trusted while untrusted code runs (acl.c). */
				oml_sandbox_depth++;
				in_sandbox = true;
				Py_CLEAR(refs->args);
				refs->rows = oml_sandbox_run(&cache->sandbox,
											 fcinfo->flinfo->fn_mcxt,
											 &cache->scr, callargs);
				if (refs->rows && call->out_fmt &&
					strcmp(call->out_fmt, "PICKLE") == 0)
					mark_sandboxed(refs->rows);
			}
			else
				refs->rows = oml_py_call_guarded(cache->run_fn, callargs, NULL);
		}
		PG_FINALLY();
		{
			if (in_sandbox)
				oml_sandbox_depth--;
			oml_registry_run_end(prev);
		}
		PG_END_TRY();
	}
	Py_DECREF(callargs);
	Py_CLEAR(refs->args);
	if (refs->rows == NULL)
		oml_py_raise(cache->scr.name);
	if (!PyList_Check(refs->rows) && !PyTuple_Check(refs->rows))
		elog(ERROR, "oml_store runtime returned %s instead of rows",
			 Py_TYPE(refs->rows)->tp_name);
	emit(fcinfo, call, cache, refs, label);
	/* Conversions and destructors run Python code, which may fork. */
	if (unlikely(oml_forked_child))
		oml_state_child_exit(Py_None);
}

/*
 * Build the script's input from gathered columns, per oml_input_type and
 * oml_na_omit.
 */
static PyObject *
build_frame(EvalCache *cache, OmlColumns *cols)
{
	return oml_py_runtime_call("build_input",
							   Py_BuildValue("(NO)", oml_columns_take(cols),
											 cache->controls));
}

/*
 * The label of a group: the key's text (NULL for a single NULL key), or for
 * several columns a row literal such as (a,"b,c"), quoted as record_out
 * quotes, so distinct keys never share a label.
 */
static char *
group_label(TupleTableSlot *slot, int *keycols, int nkeys)
{
	StringInfoData buf;
	TupleDesc	desc = slot->tts_tupleDescriptor;

	if (nkeys == 1 && slot->tts_isnull[keycols[0] - 1])
		return NULL;
	initStringInfo(&buf);
	if (nkeys > 1)
		appendStringInfoChar(&buf, '(');
	for (int k = 0; k < nkeys; k++)
	{
		int			att = keycols[k] - 1;
		Oid			outfn;
		bool		isvarlena;
		char	   *v;
		bool		quote;

		if (k > 0)
			appendStringInfoChar(&buf, ',');
		if (slot->tts_isnull[att])
			continue;			/* as record_out: nothing for NULL */
		getTypeOutputInfo(TupleDescAttr(desc, att)->atttypid, &outfn, &isvarlena);
		v = OidOutputFunctionCall(outfn, slot->tts_values[att]);
		if (nkeys == 1)
		{
			appendStringInfoString(&buf, v);
			continue;
		}
		quote = (v[0] == '\0' || strpbrk(v, ",()\"\\ \t\n\r") != NULL);
		if (quote)
			appendStringInfoChar(&buf, '"');
		for (char *p = v; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, *p);
			appendStringInfoChar(&buf, *p);
		}
		if (quote)
			appendStringInfoChar(&buf, '"');
	}
	if (nkeys > 1)
		appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The position of column colname (as grp_col or ord_col, what, named it)
 * in desc; an error when there is none, with a hint when a column of that
 * name in another case exists (an unquoted name is folded to lower case).
 */
static int
input_column(const char *colname, TupleDesc desc, const char *what)
{
	int			attno = SPI_fnumber(desc, colname);
	const char *other = NULL;

	if (attno > 0)
		return attno;
	for (int i = 0; i < desc->natts && other == NULL; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && pg_strcasecmp(NameStr(a->attname), colname) == 0)
			other = NameStr(a->attname);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s column \"%s\" is not in the input",
					strcmp(what, "grp_col") == 0 ? "grouping" : "ordering",
					colname),
			 other ?
			 errhint("The input has a column %s: column names are case-sensitive and unquoted ones are folded to lower case, so write %s => '%s'.",
					 quote_identifier(other), what, quote_identifier(other)) : 0));
	return 0;					/* keep compiler quiet */
}

/*
 * The positions of the comma-separated grp_col columns in desc.
 */
static int *
group_columns(const char *grp_col, TupleDesc desc, int *nkeys)
{
	List	   *names;
	ListCell   *lc;
	int		   *cols;
	int			n = 0;
	char	   *copy = pstrdup(grp_col);

	if (!SplitIdentifierString(copy, ',', &names) || names == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid grp_col \"%s\"", grp_col),
				 errhint("Give one or more column names separated by commas.")));
	cols = palloc(sizeof(int) * list_length(names));
	foreach(lc, names)
		cols[n++] = input_column(lfirst(lc), desc, "grp_col");
	*nkeys = n;
	return cols;
}

/*
 * A comma-separated list of column names (with ord_col, each optionally
 * followed by ASC or DESC and NULLS FIRST or NULLS LAST) rebuilt with
 * quoted identifiers, so no other SQL can ride along.  Names follow SQL
 * rules: unquoted ones fold to lower case.  Each must be a column of desc.
 */
static char *
order_list(const char *list, bool with_direction, const char *what,
		   TupleDesc desc)
{
	StringInfoData out;
	const char *p = list;
	int			items = 0;
	List	   *names = NIL;
	ListCell   *lc;

	initStringInfo(&out);
	for (;;)
	{
		StringInfoData name;
		int			words = 0;

		initStringInfo(&name);
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '"')
		{
			for (p++;; p++)
			{
				if (*p == '\0')
					goto bad;
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
				appendStringInfoChar(&name, *p);
			}
			p++;
		}
		else
		{
			while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
				appendStringInfoChar(&name, *p++);
			if (name.len > 0)
			{
				char	   *folded = downcase_truncate_identifier(name.data, name.len, false);

				resetStringInfo(&name);
				appendStringInfoString(&name, folded);
			}
		}
		if (name.len == 0)
			goto bad;
		names = lappend(names, name.data);
		if (items++ > 0)
			appendStringInfoString(&out, ", ");
		appendStringInfoString(&out, quote_identifier(name.data));

		/* Direction words, then a comma or the end. */
		for (;;)
		{
			const char *w;
			int			n;

			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
				p++;
			if (*p == '\0' || *p == ',')
				break;
			w = p;
			while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
				p++;
			n = p - w;
			if (!with_direction || ++words > 3)
				goto bad;
			if ((n == 3 && pg_strncasecmp(w, "asc", 3) == 0) ||
				(n == 4 && pg_strncasecmp(w, "desc", 4) == 0) ||
				(n == 5 && pg_strncasecmp(w, "nulls", 5) == 0) ||
				(n == 5 && pg_strncasecmp(w, "first", 5) == 0) ||
				(n == 4 && pg_strncasecmp(w, "last", 4) == 0))
			{
				appendStringInfoChar(&out, ' ');
				appendBinaryStringInfo(&out, w, n);
			}
			else
				goto bad;
		}
		if (*p == '\0')
			break;
		p++;					/* the comma */
	}
	foreach(lc, names)
		(void) input_column(lfirst(lc), desc, what);
	return out.data;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", what, list),
			 with_direction ?
			 errhint("Give column names separated by commas, each optionally followed by ASC or DESC and NULLS FIRST or NULLS LAST.") :
			 errhint("Give one or more column names separated by commas.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Receives the input query's rows straight from the executor (no copy into
 * an SPI tuple table), gathers them column by column and runs the script
 * whenever a chunk or group is complete.
 */
typedef struct InputDest
{
	DestReceiver pub;
	FunctionCallInfo fcinfo;
	EvalCall   *call;
	EvalCache  *cache;
	EvalRefs   *refs;
	MemoryContext cxt;			/* lives as long as the run */
	MemoryContext rowcxt;		/* reset every few rows */
	MemoryContext flushcxt;		/* reset after each script call */
	uint64		nrows;			/* rows received */
	OmlColumns *cols;
	int		   *keycols;
	int			nkeys;
	bool		ingroup;		/* a group has started */
	FmgrInfo  **keyeq;			/* equality functions (NULL: compare images) */
	Datum	   *keyvals;		/* its key, copied into cxt */
	bool	   *keynulls;
	char	   *curkey;			/* its label (NULL for a NULL key), in cxt */
	int			chunk;			/* chunks run so far */
	uint64		inchunk;		/* rows in the current chunk */
	Oid		   *nantypes;		/* with oml_na_omit: each column's type when
								 * it can hold values the input shows as
								 * missing (NaN of float4, float8, numeric;
								 * infinite date, timestamp, timestamptz),
								 * else InvalidOid */
	int			degree;			/* processes to run the script in */
	OmlParallel *par;			/* the parallel run, or NULL: serial */
	OmlEvalRun	run;			/* this call, for parallel.c */
} InputDest;

/*
 * Run the script on what has been gathered, labelled name.
 */
static void
input_flush(InputDest *d, const char *name)
{
	MemoryContext old;

	if (d->par)
	{
		/* The unit goes to a worker, or the leader runs it. */
		oml_parallel_end_unit(d->par, name);
		d->inchunk = 0;
		return;
	}
	old = MemoryContextSwitchTo(d->flushcxt);

	d->refs->frame = build_frame(d->cache, d->cols);
	run_once(d->fcinfo, d->call, d->cache, d->refs,
			 PyTuple_Pack(1, d->refs->frame), name);
	Py_CLEAR(d->refs->frame);
	d->inchunk = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(d->flushcxt);	/* the results are in the tuplestore */
}

/*
 * The run's last chunk, group or whole table.
 */
static void
input_finish(InputDest *d)
{
	char		label[32];

	if (d->call->kind == EVAL_TABLE)
	{
		if (d->cols == NULL)
			elog(ERROR, "input query returned no row description");
		input_flush(d, NULL);
	}
	else if (d->call->kind == EVAL_ROW && d->inchunk > 0)
	{
		snprintf(label, sizeof(label), "%d", ++d->chunk);
		input_flush(d, label);
	}
	else if (d->call->kind == EVAL_GROUP && d->ingroup)
		input_flush(d, d->curkey);
	if (d->par)
		oml_parallel_finish(d->par);
}

/*
 * Does the row in slot belong to the current group?  Keys are compared with
 * their type's equality, NULLs equal to each other, as ORDER BY grouped them.
 */
static bool
same_group(InputDest *d, TupleTableSlot *slot)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;

	if (!d->ingroup)
		return false;
	for (int k = 0; k < d->nkeys; k++)
	{
		int			att = d->keycols[k] - 1;
		Form_pg_attribute a = TupleDescAttr(desc, att);

		if (slot->tts_isnull[att] != d->keynulls[k])
			return false;
		if (slot->tts_isnull[att])
			continue;
		/* The type's equality, as ORDER BY grouped equal values together. */
		if (d->keyeq[k] != NULL)
		{
			if (!DatumGetBool(FunctionCall2Coll(d->keyeq[k], a->attcollation,
												slot->tts_values[att],
												d->keyvals[k])))
				return false;
		}
		else if (!datum_image_eq(slot->tts_values[att], d->keyvals[k],
								 a->attbyval, a->attlen))
			return false;
	}
	return true;
}

/*
 * Make the row in slot the first of a new group.
 */
static void
start_group(InputDest *d, TupleTableSlot *slot)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);

	for (int k = 0; k < d->nkeys; k++)
	{
		int			att = d->keycols[k] - 1;
		Form_pg_attribute a = TupleDescAttr(desc, att);

		if (d->ingroup && !d->keynulls[k] && !a->attbyval)
			pfree(DatumGetPointer(d->keyvals[k]));
		d->keynulls[k] = slot->tts_isnull[att];
		d->keyvals[k] = d->keynulls[k] ? (Datum) 0 :
			datumCopy(slot->tts_values[att], a->attbyval, a->attlen);
	}
	if (d->curkey)
		pfree(d->curkey);
	d->curkey = group_label(slot, d->keycols, d->nkeys);
	d->ingroup = true;
	MemoryContextSwitchTo(old);
}

static void
input_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	InputDest  *d = (InputDest *) self;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);
	TupleDesc	desc = CreateTupleDescCopy(typeinfo);

	d->cols = oml_columns_begin(desc);
	if (d->cache->na_omit)
	{
		d->nantypes = palloc0(sizeof(Oid) * desc->natts);
		for (int c = 0; c < desc->natts; c++)
		{
			Oid			typid = TupleDescAttr(desc, c)->atttypid;
			Oid			t = getBaseType(typid);

			if (t == FLOAT4OID || t == FLOAT8OID || t == NUMERICOID)
				d->nantypes[c] = t;

			/*
			 * Infinite dates and timestamps become NaT (of these types, not
			 * of domains over them, which the input shows as text).
			 */
			if (typid == DATEOID || typid == TIMESTAMPOID ||
				typid == TIMESTAMPTZOID)
				d->nantypes[c] = typid;
		}
	}
	if (d->call->kind == EVAL_GROUP)
	{
		d->keycols = group_columns(d->call->grp_col, desc, &d->nkeys);
		d->keyvals = palloc0(sizeof(Datum) * d->nkeys);
		d->keynulls = palloc0(sizeof(bool) * d->nkeys);
		d->keyeq = palloc0(sizeof(FmgrInfo *) * d->nkeys);
		for (int k = 0; k < d->nkeys; k++)
		{
			TypeCacheEntry *tc = lookup_type_cache(TupleDescAttr(desc, d->keycols[k] - 1)->atttypid,
												   TYPECACHE_EQ_OPR_FINFO);

			if (OidIsValid(tc->eq_opr_finfo.fn_oid))
				d->keyeq[k] = &tc->eq_opr_finfo;
		}
	}
	/* In the run's memory: the executor's ends before input_finish. */
	if (d->degree > 1)
		d->par = oml_parallel_begin(&d->run, d->degree, desc);
	MemoryContextSwitchTo(old);
}

/*
 * Is a value of the row in slot missing, for oml_na_omit: NULL, NaN or an
 * infinite date or timestamp (which the script's input also shows as
 * missing)?
 */
static bool
row_has_missing(InputDest *d, TupleTableSlot *slot)
{
	int			natts = slot->tts_tupleDescriptor->natts;

	for (int c = 0; c < natts; c++)
	{
		Datum		v = slot->tts_values[c];

		if (slot->tts_isnull[c])
			return true;
		switch (d->nantypes[c])
		{
			case FLOAT4OID:
				if (isnan(DatumGetFloat4(v)))
					return true;
				break;
			case FLOAT8OID:
				if (isnan(DatumGetFloat8(v)))
					return true;
				break;
			case NUMERICOID:
				if (numeric_is_nan(DatumGetNumeric(v)))
					return true;
				break;
			case DATEOID:
				if (DATE_NOT_FINITE(DatumGetDateADT(v)))
					return true;
				break;
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(v)))
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

static bool
input_receive(TupleTableSlot *slot, DestReceiver *self)
{
	InputDest  *d = (InputDest *) self;
	MemoryContext old = MemoryContextSwitchTo(d->rowcxt);

	slot_getallattrs(slot);
	/* oml_na_omit drops rows before they are cut into chunks or groups. */
	if (d->nantypes != NULL && row_has_missing(d, slot))
	{
		MemoryContextSwitchTo(old);
		if ((++d->nrows & 1023) == 0)
		{
			MemoryContextReset(d->rowcxt);
			CHECK_FOR_INTERRUPTS();
		}
		return true;
	}
	if (d->call->kind == EVAL_GROUP && !same_group(d, slot))
	{
		if (d->ingroup)
			input_flush(d, d->curkey);
		start_group(d, slot);
	}
	if (d->par)
		oml_parallel_add_row(d->par, slot);
	else
		oml_columns_add_values(d->cols, slot->tts_values, slot->tts_isnull);
	d->inchunk++;
	if (d->call->kind == EVAL_ROW && d->inchunk == (uint64) d->call->row_num)
	{
		char		label[32];

		snprintf(label, sizeof(label), "%d", ++d->chunk);
		input_flush(d, label);
	}
	MemoryContextSwitchTo(old);
	if ((++d->nrows & 1023) == 0)
	{
		MemoryContextReset(d->rowcxt);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

static void
input_shutdown(DestReceiver *self)
{
}

static void
input_destroy(DestReceiver *self)
{
}

/*
 * Prepare an input query (in SPI), which must return rows.
 */
static SPIPlanPtr
prepare_input(const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

	if (plan == NULL)
		elog(ERROR, "could not prepare input query: %s",
			 SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inp_nam must be a table, a view or a query that returns rows")));
	return plan;
}

/*
 * Run the input query as the caller and the script on the whole of it
 * (table), on chunks of row_num rows (row) or on each group (group).
 */
static void
run_over_input(FunctionCallInfo fcinfo, EvalCall *call, EvalCache *cache,
			   EvalRefs *refs)
{
	char	   *sql = input_query(call->inp_nam);
	InputDest	d;
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;

	memset(&d, 0, sizeof(d));
	d.pub.receiveSlot = input_receive;
	d.pub.rStartup = input_startup;
	d.pub.rShutdown = input_shutdown;
	d.pub.rDestroy = input_destroy;
	d.pub.mydest = DestNone;
	d.fcinfo = fcinfo;
	d.call = call;
	d.cache = cache;
	d.refs = refs;
	d.cxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store input",
								  ALLOCSET_DEFAULT_SIZES);
	d.rowcxt = AllocSetContextCreate(d.cxt, "oml_store input rows",
									 ALLOCSET_DEFAULT_SIZES);
	d.flushcxt = AllocSetContextCreate(d.cxt, "oml_store script call",
									   ALLOCSET_DEFAULT_SIZES);
	d.run.fcinfo = fcinfo;
	d.run.call = call;
	d.run.cache = cache;
	d.run.refs = refs;
	if (call->kind != EVAL_TABLE)
		d.degree = eval_degree(cache);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PG_TRY();
	{
		plan = prepare_input(sql);
		if (call->kind == EVAL_GROUP)
		{
			/*
			 * Ordered by the group, then ord_col: names checked against the
			 * input's columns first, for errors that say which is missing.
			 */
			CachedPlanSource *source = linitial(SPI_plan_get_plan_sources(plan));
			TupleDesc	desc = source->resultDesc;

			sql = psprintf("SELECT * FROM (%s\n) oml_input ORDER BY %s%s%s",
						   sql, order_list(call->grp_col, false, "grp_col", desc),
						   call->ord_col ? ", " : "",
						   call->ord_col ? order_list(call->ord_col, true, "ord_col", desc) : "");
			SPI_freeplan(plan);
			plan = prepare_input(sql);
		}
		if (d.degree > 1 && !oml_parallel_input_safe(plan))
			d.degree = 1;
		memset(&options, 0, sizeof(options));
		options.read_only = false;
		options.dest = &d.pub;
		rc = SPI_execute_plan_extended(plan, &options);
		if (rc < 0)
			elog(ERROR, "could not run input query: %s",
				 SPI_result_code_string(rc));
		input_finish(&d);
	}
	PG_FINALLY();
	{
		call->run->rows_in += d.nrows;
		if (d.par)
			oml_parallel_cleanup(d.par);
		if (d.cols)
			oml_columns_free(d.cols);
	}
	PG_END_TRY();
	SPI_finish();
	MemoryContextDelete(d.cxt);
}

/*
 * The names of the result columns that are not dropped, as a tuple for the
 * runtime, which maps named results onto them (None for the one column of a
 * scalar output type, which has no declared name); *nlive: how many.
 */
static PyObject *
result_names(TupleDesc desc, bool scalar, int *nlive)
{
	PyObject   *names;
	int			n = 0;

	for (int c = 0; c < desc->natts; c++)
		if (!TupleDescAttr(desc, c)->attisdropped)
			n++;
	names = PyTuple_New(n);
	if (names == NULL)
		oml_py_raise(NULL);
	*nlive = n;
	for (int c = 0, k = 0; c < desc->natts; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, c);
		PyObject   *name;

		if (att->attisdropped)
			continue;
		if (scalar)
			name = Py_NewRef(Py_None);
		else
		{
			const char *n = NameStr(att->attname);
			char	   *utf8 = pg_server_to_any(n, strlen(n), PG_UTF8);

			name = PyUnicode_DecodeUTF8(utf8, strlen(utf8), "replace");
			if (utf8 != n)
				pfree(utf8);
		}
		if (name == NULL)
		{
			Py_DECREF(names);
			oml_py_raise(NULL);
		}
		PyTuple_SET_ITEM(names, k++, name);
	}
	return names;
}

/*
 * The result columns of the pyq* functions with a text out_fmt, TABLE
 * (name text, id integer, value text, title text, image bytea), and their
 * names for the runtime: made once per backend, since every statement's
 * first call would otherwise build them from pg_proc again.
 */
static TupleDesc formatted_desc = NULL;
static PyObject *formatted_names = NULL;
static const Oid formatted_types[] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, BYTEAOID};
static const char *const formatted_cols[] = {"name", "id", "value", "title", "image"};

/*
 * Is expected (the executor's row type for this call, or NULL) the row
 * type of formatted output?  Makes formatted_desc on first use.
 */
static bool
formatted_desc_matches(TupleDesc expected)
{
	int			n = lengthof(formatted_types);

	if (expected == NULL || expected->natts != n)
		return false;
	for (int c = 0; c < n; c++)
	{
		Form_pg_attribute att = TupleDescAttr(expected, c);

		if (att->attisdropped || att->atttypid != formatted_types[c])
			return false;
	}
	if (formatted_desc == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc	desc = CreateTemplateTupleDesc(n);
		int			nlive;

		for (int c = 0; c < n; c++)
			TupleDescInitEntry(desc, c + 1, formatted_cols[c],
							   formatted_types[c], -1, 0);
		MemoryContextSwitchTo(oldcxt);
		formatted_names = result_names(desc, false, &nlive);
		formatted_desc = desc;
	}
	return true;
}

/*
 * Set up materialize mode.  The result columns (the declared row type, or
 * one column for a scalar out_fmt type such as NULL::float8) are worked out
 * once per statement and kept in the cache; setDesc stays NULL, so the
 * executor checks our rows against what the query expects.
 */
static void
init_result(FunctionCallInfo fcinfo, EvalCall *call, EvalCache *cache)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set"),
				 errhint("Call it in FROM: SELECT * FROM oml.pyqEval(...).")));
	if (cache->desc == NULL && call->out_fmt != NULL &&
		formatted_desc_matches(rsinfo->expectedDesc))
	{
		/* The five columns of formatted output, as the executor expects. */
		cache->desc = formatted_desc;
		cache->names = Py_NewRef(formatted_names);
		cache->nlive = formatted_desc->natts;
	}
	if (cache->desc == NULL)
	{
		TupleDesc	desc;
		Oid			rettype;
		bool		scalar = false;

		switch (get_call_result_type(fcinfo, &rettype, &desc))
		{
			case TYPEFUNC_COMPOSITE:
			case TYPEFUNC_COMPOSITE_DOMAIN:
				break;
			case TYPEFUNC_SCALAR:
				scalar = true;
				desc = CreateTemplateTupleDesc(1);
				TupleDescInitEntry(desc, 1, "value", rettype, -1, 0);
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_SYNTAX_ERROR),
						 errmsg("a column definition list is required for relational output of type record"),
						 errhint("Write SELECT * FROM oml.pyqEval(..., NULL::record, ...) AS t(a int, b text).")));
		}
		cache->names = result_names(desc, scalar, &cache->nlive);
		cache->scalar = scalar;
		oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		cache->desc = CreateTupleDescCopy(desc);
		MemoryContextSwitchTo(oldcxt);
	}
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setResult =
		tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
							  false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Submit the call as an async job (jobs.c) instead of running it.
 */
static Datum
submit_call(FunctionCallInfo fcinfo, EvalCall *call)
{
	static const char *const names[] = {"pyqEval", "pyqTableEval", "pyqRowEval",
	"pyqGroupEval", "pyqIndexEval"};
	OmlJobRequest req;

	req.func = names[call->kind];
	req.inp_nam = call->inp_nam;
	req.par_lst = call->par_lst;
	req.out_fmt = call->out_fmt;
	req.row_num = call->row_num;
	req.grp_col = call->grp_col;
	req.ord_col = call->ord_col;
	req.times_num = call->times_num;
	req.scr_name = call->scr_name;
	req.scr_owner = call->scr_owner;
	return oml_job_submit(fcinfo, &req);
}

/*
 * Run one pyq* call of the kind, recorded in run.
 */
static void
pyq_run(FunctionCallInfo fcinfo, EvalKind kind, OmlRun *run)
{
	EvalCall	call;
	EvalCache  *volatile cache;
	EvalRefs	refs = {NULL, NULL, NULL};
	OmlEvalRun	prun;
	OmlParallel *volatile par = NULL;

	read_call(fcinfo, kind, &call, run);
	if (oml_job_should_submit(call.par_lst))
	{
		/* The job's worker runs (and records) the call itself. */
		(void) submit_call(fcinfo, &call);
		return;
	}
	/* Cancel reaches Python from here to the end of the statement. */
	oml_py_enter(fcinfo->flinfo->fn_mcxt);
	cache = get_cache(fcinfo, &call);
	init_result(fcinfo, &call, cache);
	if (call.out_fmt && cache->desc->natts != 5)
		elog(ERROR, "pyq* function with out_fmt must return five columns");

	PG_TRY();
	{
		switch (kind)
		{
			case EVAL_EVAL:
				run_once(fcinfo, &call, cache, &refs, PyTuple_New(0), NULL);
				break;
			case EVAL_INDEX:
				prun.fcinfo = fcinfo;
				prun.call = &call;
				prun.cache = cache;
				prun.refs = &refs;
				if (call.times_num > 1 && eval_degree(cache) > 1)
					par = oml_parallel_begin(&prun, eval_degree(cache), NULL);
				for (int i = 1; i <= call.times_num; i++)
				{
					char		label[32];

					CHECK_FOR_INTERRUPTS();
					snprintf(label, sizeof(label), "%d", i);
					if (par)
						oml_parallel_index(par, i, label);
					else
						run_once(fcinfo, &call, cache, &refs,
								 Py_BuildValue("(i)", i), label);
				}
				if (par)
					oml_parallel_finish(par);
				break;
			default:
				run_over_input(fcinfo, &call, cache, &refs);
				break;
		}
	}
	PG_FINALLY();
	{
		if (par)
			oml_parallel_cleanup(par);
		oml_py_release(&refs.args);
		oml_py_release(&refs.frame);
		oml_py_release(&refs.rows);
		if (unlikely(oml_forked_child))
			oml_state_child_exit(NULL);
	}
	PG_END_TRY();
	/* Destructors ran just now: a cancel they met, and their output. */
	CHECK_FOR_INTERRUPTS();
	oml_state_flush_output();
}

/*
 * The body shared by the five pyq* functions, recorded (statistics, run
 * log) however it ends.
 */
static Datum
pyq_common(FunctionCallInfo fcinfo, EvalKind kind)
{
	static const char *const names[] = {"pyqEval", "pyqTableEval",
	"pyqRowEval", "pyqGroupEval", "pyqIndexEval"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OmlRun		run;

	oml_require_schema_version();
	oml_run_begin(&run, names[kind]);
	PG_TRY();
	{
		pyq_run(fcinfo, kind, &run);
		if (rsinfo && IsA(rsinfo, ReturnSetInfo) && rsinfo->setResult)
			run.rows_out = tuplestore_tuple_count(rsinfo->setResult);
		oml_run_end(&run);
	}
	PG_CATCH();
	{
		if (rsinfo && IsA(rsinfo, ReturnSetInfo) && rsinfo->setResult)
			run.rows_out = tuplestore_tuple_count(rsinfo->setResult);
		oml_run_failed(&run);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * SQL oml.pyqEval(par_lst, out_fmt, scr_name, scr_owner).
 */
Datum
oml_pyq_eval(PG_FUNCTION_ARGS)
{
	return pyq_common(fcinfo, EVAL_EVAL);
}

/*
 * SQL oml.pyqTableEval(inp_nam, par_lst, out_fmt, scr_name, scr_owner).
 */
Datum
oml_pyq_table_eval(PG_FUNCTION_ARGS)
{
	return pyq_common(fcinfo, EVAL_TABLE);
}

/*
 * SQL oml.pyqRowEval(inp_nam, par_lst, out_fmt, row_num, scr_name,
 * scr_owner).
 */
Datum
oml_pyq_row_eval(PG_FUNCTION_ARGS)
{
	return pyq_common(fcinfo, EVAL_ROW);
}

/*
 * SQL oml.pyqGroupEval(inp_nam, par_lst, out_fmt, grp_col, ord_col,
 * scr_name, scr_owner).
 */
Datum
oml_pyq_group_eval(PG_FUNCTION_ARGS)
{
	return pyq_common(fcinfo, EVAL_GROUP);
}

/*
 * SQL oml.pyqIndexEval(par_lst, out_fmt, times_num, scr_name, scr_owner).
 */
Datum
oml_pyq_index_eval(PG_FUNCTION_ARGS)
{
	return pyq_common(fcinfo, EVAL_INDEX);
}

/*
 * What a parallel worker needs to run this call (see parallel.h).
 */
void
oml_eval_describe(OmlEvalRun *run, OmlEvalDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) run->fcinfo->resultinfo;

	memset(desc, 0, sizeof(OmlEvalDesc));
	desc->kind = run->call->kind == EVAL_INDEX ? OML_UNIT_INDEX : OML_UNIT_ROWS;
	desc->caller = run->cache->caller;
	desc->scr_id = run->cache->scr.id;
	desc->scr_name = run->cache->scr.name;
	desc->scr_source = run->cache->scr.source;
	desc->scr_readable = run->cache->scr.readable;
	desc->par_lst = run->call->par_lst;
	desc->out_fmt = run->call->out_fmt;
	desc->scalar = run->cache->scalar;
	desc->result_desc = run->cache->desc;
	desc->result = rsinfo->setResult;
}

/*
 * In a parallel worker: set up the leader's call from desc, with results
 * going to desc->result.  The script is the source the leader found (and
 * checked the caller may run), compiled here for the same role.
 */
OmlEvalRun *
oml_eval_worker_begin(OmlEvalDesc *desc)
{
	MemoryContext cxt = CurrentMemoryContext;
	OmlEvalRun *run = palloc0(sizeof(OmlEvalRun));
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(0));
	ReturnSetInfo *rsinfo = makeNode(ReturnSetInfo);
	EvalCache  *cache = new_eval_cache(cxt);
	OmlScript	scr;

	if (GetUserId() != desc->caller)
		elog(ERROR, "parallel worker runs as role %u, not as the caller %u",
			 GetUserId(), desc->caller);
	fcinfo->flinfo = palloc0(sizeof(FmgrInfo));
	fcinfo->flinfo->fn_mcxt = cxt;
	fcinfo->flinfo->fn_extra = cache;
	rsinfo->setResult = desc->result;
	rsinfo->returnMode = SFRM_Materialize;
	fcinfo->resultinfo = (Node *) rsinfo;

	oml_py_enter(cxt);
	memset(&scr, 0, sizeof(scr));
	scr.id = desc->scr_id;
	scr.name = desc->scr_name;
	scr.source = desc->scr_source;
	scr.readable = desc->scr_readable;
	compile_script(cache, cxt, desc->caller, &scr);
	cache->level_noted = true;	/* the leader gave the NOTICE */
	set_params(cache, cxt, desc->par_lst);
	cache->desc = desc->result_desc;
	cache->scalar = desc->scalar;
	cache->names = result_names(desc->result_desc, desc->scalar, &cache->nlive);

	run->fcinfo = fcinfo;
	run->call = palloc0(sizeof(EvalCall));
	run->call->kind = desc->kind == OML_UNIT_INDEX ? EVAL_INDEX : EVAL_ROW;
	run->call->par_lst = desc->par_lst;
	run->call->out_fmt = desc->out_fmt;
	run->call->scr_name = desc->scr_name;
	run->cache = cache;
	run->refs = palloc0(sizeof(EvalRefs));
	return run;
}

/*
 * Make ts the tuplestore the call's results go to; returns the one before.
 */
Tuplestorestate *
oml_eval_swap_result(OmlEvalRun *run, Tuplestorestate *ts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) run->fcinfo->resultinfo;
	Tuplestorestate *old = rsinfo->setResult;

	rsinfo->setResult = ts;
	return old;
}

/*
 * Run the script on one unit, labelled label: the rows gathered in cols,
 * or (cols NULL) the index.  Its result rows go to the call's output.
 */
void
oml_eval_unit(OmlEvalRun *run, OmlColumns *cols, int index, const char *label)
{
	EvalRefs   *refs = run->refs;

	PG_TRY();
	{
		if (cols == NULL)
			run_once(run->fcinfo, run->call, run->cache, refs,
					 Py_BuildValue("(i)", index), label);
		else
		{
			refs->frame = build_frame(run->cache, cols);
			run_once(run->fcinfo, run->call, run->cache, refs,
					 PyTuple_Pack(1, refs->frame), label);
			Py_CLEAR(refs->frame);
		}
	}
	PG_CATCH();
	{
		oml_py_release(&refs->args);
		oml_py_release(&refs->frame);
		oml_py_release(&refs->rows);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * The rows of results an async job stored (jobs.c), in the out_fmt of this
 * call's argument fmt_argno: next gives each stored result, the pickled
 * (result, figures) of one script call, and its label; the runtime's
 * replay formats it as run formats a fresh result.  graphics: the job's
 * oml_graphics_flag.
 */
void
oml_pyq_emit_stored(FunctionCallInfo fcinfo, int fmt_argno, bool graphics,
					OmlStoredNext next, void *arg)
{
	EvalCall	call;
	EvalCache  *volatile cache;
	EvalRefs	refs = {NULL, NULL, NULL};
	MemoryContext fn_mcxt = fcinfo->flinfo->fn_mcxt;
	PyObject   *volatile replay = NULL;

	memset(&call, 0, sizeof(call));
	call.out_fmt = read_out_fmt(fcinfo, fmt_argno);
	oml_py_enter(fn_mcxt);
	oml_py_init();
	cache = (EvalCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL)
	{
		cache = new_eval_cache(fn_mcxt);
		cache->scr.name = MemoryContextStrdup(fn_mcxt, "pyqJobResult");
		fcinfo->flinfo->fn_extra = cache;
	}
	init_result(fcinfo, &call, cache);
	if (call.out_fmt && cache->desc->natts != 5)
		elog(ERROR, "pyq* function with out_fmt must return five columns");

	PG_TRY();
	{
		char	   *label;
		bytea	   *data;

		replay = PyObject_GetAttrString(oml_py_runtime, "replay");
		if (replay == NULL)
			oml_py_raise(NULL);
		while (next(arg, &label, &data))
		{
			PyObject   *args;

			CHECK_FOR_INTERRUPTS();
			args = Py_BuildValue("(NzOO)",
								 PyBytes_FromStringAndSize(VARDATA_ANY(data),
														   VARSIZE_ANY_EXHDR(data)),
								 call.out_fmt,
								 cache->names ? cache->names : Py_None,
								 graphics ? Py_True : Py_False);
			pfree(data);
			if (args == NULL)
				oml_py_raise(NULL);
			refs.rows = oml_py_call_guarded(replay, args, NULL);
			Py_DECREF(args);
			if (refs.rows == NULL)
				oml_py_raise(NULL);
			if (!PyList_Check(refs.rows) && !PyTuple_Check(refs.rows))
				elog(ERROR, "oml_store runtime returned %s instead of rows",
					 Py_TYPE(refs.rows)->tp_name);
			emit(fcinfo, &call, cache, &refs, label);
		}
	}
	PG_FINALLY();
	{
		PyObject   *r = replay;

		oml_py_release(&r);
		oml_py_release(&refs.rows);
	}
	PG_END_TRY();
	CHECK_FOR_INTERRUPTS();
	oml_state_flush_output();
}
