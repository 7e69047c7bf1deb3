/*-------------------------------------------------------------------------
 *
 * pystate.c
 *	  Process state that Python code may change, put back after every
 *	  call; script output, captured and reported as a NOTICE; forked
 *	  children of scripts, which must never run the backend's code.
 *
 * A script runs inside the backend process, so what it changes in the
 * process outlives it: the working directory (PostgreSQL opens relation
 * files by relative path), signal dispositions and the signal mask (cancel
 * and timeouts), the locale (collation, case mapping), the umask, the
 * environment, the recursion limit (deeply nested input would crash the C
 * stack), trace functions, sys.path and sys.stdout / sys.stderr.
 *
 * Cheap comparisons run after every top-level Python call.  Changes that
 * need a system call to see are flagged as they happen, by an audit hook
 * (os.chdir, os.putenv, os.unsetenv, sys.settrace, sys.setprofile) and by
 * wrappers that oml_store._runtime puts around signal, locale and umask
 * functions (events "oml.signal", "oml.locale", "oml.umask"); what was
 * flagged is put back then.  At the end of each statement the directory
 * and locale are put back unconditionally.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pyoml.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "oml_store.h"

/* Set in a child forked by Python code (pthread_atfork). */
volatile sig_atomic_t oml_forked_child = 0;

/* What was flagged as changed since it was last put back. */
#define DIRTY_CWD		0x01
#define DIRTY_ENV		0x02
#define DIRTY_TRACE		0x04
#define DIRTY_SIGNAL	0x08
#define DIRTY_LOCALE	0x10
#define DIRTY_UMASK		0x20
static int	dirty = 0;

static int	cwd_fd = -1;		/* the backend's working directory */
static mode_t saved_umask;
static int	saved_recursion_limit;
static sigset_t saved_sigmask;
static struct sigaction saved_actions[32];
static bool saved_gc_enabled;

/* sys attributes compared by identity after every call. */
static const char *const sys_names[] = {
	"stdout", "stderr", "__stdout__", "__stderr__", "stdin",
	"excepthook", "unraisablehook", "displayhook"
};
#define N_SYS_NAMES lengthof(sys_names)
static PyObject *sys_dict = NULL;	/* borrowed: lives as long as Python */
static PyObject *sys_keys[N_SYS_NAMES];
static PyObject *sys_saved[N_SYS_NAMES];
static PyObject *path_key = NULL;
static PyObject *path_list = NULL;	/* sys.path as it was */
static PyObject *path_items = NULL; /* its items, as a tuple */

/* The locale as it was when the statement's Python started. */
static const int locale_categories[] = {
	LC_COLLATE, LC_CTYPE, LC_MONETARY, LC_NUMERIC, LC_TIME, LC_MESSAGES
};
#define N_LOCALE lengthof(locale_categories)
static char saved_locale[N_LOCALE][64];

/* Captured script output, not yet reported (malloc'd: no longjmp). */
int			oml_max_output_bytes = 65536;
static char *out_buf = NULL;
static size_t out_len = 0;
static size_t out_cap = 0;
static int64 out_dropped = 0;

/*
 * fchdir, whose failure leaves nothing better to do than to go on.
 */
static void
change_dir(int fd)
{
	if (fchdir(fd) != 0)
		errno = 0;
}

/*
 * pthread_atfork child handler: this process is a copy of the backend made
 * by Python code, and must never return into PostgreSQL.  SIGINT, SIGTERM
 * and SIGALRM get their default action (a script's os.kill and
 * multiprocessing's terminate() end the child).
 */
static void
after_fork_child(void)
{
	struct sigaction act;

	oml_forked_child = 1;
	/* The backend's cancel and timeout handlers mean nothing here. */
	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_DFL;
	sigemptyset(&act.sa_mask);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGALRM, &act, NULL);
}

/*
 * Audit hook: flag changes to state that takes a system call to compare.
 * Called for every audited event, so it only compares the name.
 */
static int
audit_hook(const char *event, PyObject *args, void *data)
{
	if (event[0] == 'o' && event[1] == 's' && event[2] == '.')
	{
		if (strcmp(event + 3, "chdir") == 0)
			dirty |= DIRTY_CWD;
		else if (strcmp(event + 3, "putenv") == 0 ||
				 strcmp(event + 3, "unsetenv") == 0)
			dirty |= DIRTY_ENV;
	}
	else if (event[0] == 's' && strncmp(event, "sys.set", 7) == 0)
	{
		if (strcmp(event + 7, "trace") == 0 || strcmp(event + 7, "profile") == 0)
			dirty |= DIRTY_TRACE;
	}
	else if (event[0] == 'o' && strncmp(event, "oml.", 4) == 0)
	{
		if (strcmp(event + 4, "signal") == 0)
			dirty |= DIRTY_SIGNAL;
		else if (strcmp(event + 4, "locale") == 0)
			dirty |= DIRTY_LOCALE;
		else if (strcmp(event + 4, "umask") == 0)
			dirty |= DIRTY_UMASK;
	}
	return 0;
}

/*
 * Keep the locale as PostgreSQL set it across Python's start-up, which
 * sets LC_CTYPE from the environment.  Call before and after Py_Initialize.
 */
void
oml_state_save_locale(void)
{
	for (int i = 0; i < N_LOCALE; i++)
	{
		const char *cur = setlocale(locale_categories[i], NULL);

		strlcpy(saved_locale[i], cur ? cur : "C", sizeof(saved_locale[i]));
	}
}

/*
 * Put the locale saved by oml_state_save_locale back where it differs.
 */
void
oml_state_restore_locale(void)
{
	for (int i = 0; i < N_LOCALE; i++)
	{
		const char *cur = setlocale(locale_categories[i], NULL);

		if (cur == NULL || strcmp(cur, saved_locale[i]) != 0)
			setlocale(locale_categories[i], saved_locale[i]);
	}
}

/*
 * Record the process state to keep, once Python and the runtime are set
 * up (and our signal handlers installed).  Also sends fd 1 to /dev/null:
 * whatever C code writes to stdout must not reach the server log.
 */
void
oml_state_init(void)
{
	PyObject   *sysmod = PyImport_AddModule("sys");	/* borrowed */
	int			fd;

	cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the current directory: %m")));
	saved_umask = umask(077);
	umask(saved_umask);
	sigprocmask(SIG_SETMASK, NULL, &saved_sigmask);
	for (int sig = 1; sig < lengthof(saved_actions); sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, NULL, &saved_actions[sig]);
	saved_recursion_limit = Py_GetRecursionLimit();
	saved_gc_enabled = PyGC_IsEnabled();

	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0)
	{
		fflush(stdout);
		if (fd != STDOUT_FILENO)
		{
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
	}

	if (sysmod == NULL || (sys_dict = PyModule_GetDict(sysmod)) == NULL)
		oml_py_raise(NULL);
	for (int i = 0; i < N_SYS_NAMES; i++)
	{
		sys_keys[i] = PyUnicode_InternFromString(sys_names[i]);
		if (sys_keys[i] == NULL)
			oml_py_raise(NULL);
		sys_saved[i] = PyDict_GetItemWithError(sys_dict, sys_keys[i]);
		Py_XINCREF(sys_saved[i]);
	}
	path_key = PyUnicode_InternFromString("path");
	path_list = path_key ? PyDict_GetItemWithError(sys_dict, path_key) : NULL;
	if (path_list == NULL || !PyList_Check(path_list) ||
		(path_items = PyList_AsTuple(path_list)) == NULL)
		oml_py_raise(NULL);
	Py_INCREF(path_list);

	if (PySys_AddAuditHook(audit_hook, NULL) < 0)
		oml_py_raise(NULL);
	pthread_atfork(NULL, NULL, after_fork_child);
}

/*
 * A child forked by Python code got back to C: end it here, with the exit
 * status Python code asked for (SystemExit), never through PostgreSQL's
 * exit path, which would act on the parent's shared state.
 */
void
oml_state_child_exit(PyObject *result)
{
	int			code = result ? 0 : 1;

	if (result == NULL && PyErr_ExceptionMatches(PyExc_SystemExit))
	{
		PyObject   *type,
				   *value,
				   *tb;
		PyObject   *arg;

		PyErr_Fetch(&type, &value, &tb);
		PyErr_NormalizeException(&type, &value, &tb);
		arg = value ? PyObject_GetAttrString(value, "code") : NULL;
		if (arg == Py_None)
			code = 0;
		else if (arg && PyLong_Check(arg))
			code = (int) PyLong_AsLong(arg) & 0xff;
		PyErr_Clear();
	}
	_exit(code);
}

/*
 * Call fname of the runtime module for its side effect; errors are
 * dropped (this is clean-up).
 */
static void
call_runtime_quietly(const char *fname)
{
	PyObject   *res = PyObject_CallMethod(oml_py_runtime, fname, NULL);

	if (res == NULL)
		PyErr_Clear();
	Py_XDECREF(res);
}

/*
 * Set Python's recursion limit, but never at or just above the depth
 * Python code is at (a script that raised the limit and recursed deeply):
 * the next call there would overflow with no way to raise RecursionError,
 * a fatal error that aborts the backend.  Such code gets the usual room
 * beyond its depth instead.
 */
static void
set_recursion_limit(int limit)
{
	PyThreadState *ts = PyThreadState_Get();
	int			depth = ts->recursion_limit - ts->recursion_remaining;

	if (limit <= depth + 50)
		limit = depth + saved_recursion_limit;
	Py_SetRecursionLimit(limit);
}

/*
 * Put back OS-level signal dispositions and the signal mask; then the
 * caller reinstalls oml_store's own handlers.
 */
static void
restore_signals(void)
{
	struct itimerval zero;

	/*
	 * Timers a script started for its own handlers (ITIMER_PROF and
	 * ITIMER_VIRTUAL: profilers) stop first, and signals they left pending
	 * are dropped (SIG_IGN discards them): their default action, which the
	 * handlers go back to, ends the process, and the postmaster then
	 * restarts every backend.
	 */
	memset(&zero, 0, sizeof(zero));
	setitimer(ITIMER_PROF, &zero, NULL);
	setitimer(ITIMER_VIRTUAL, &zero, NULL);
	pqsignal(SIGPROF, SIG_IGN);
	pqsignal(SIGVTALRM, SIG_IGN);
	call_runtime_quietly("restore_signals");	/* Python's view of them */
	sigprocmask(SIG_SETMASK, &saved_sigmask, NULL);
	for (int sig = 1; sig < lengthof(saved_actions); sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &saved_actions[sig], NULL);

	/*
	 * A SIGUSR1 that reached a script's handler instead of PostgreSQL's
	 * (a procsignal barrier, sinval catch-up, NOTIFY) would be lost, and
	 * a session waiting for this backend to absorb a barrier (DROP
	 * DATABASE) would wait until the next one.  PostgreSQL's handler
	 * finds whatever is flagged for it, so run it once more.
	 */
	raise(SIGUSR1);
}

/*
 * Put back what was flagged as changed.  Returns true when signal
 * handlers were put back (the caller then reinstalls its own).
 */
static bool
restore_dirty(void)
{
	int			d = dirty;
	bool		signals = false;

	dirty = 0;
	if ((d & DIRTY_CWD) && cwd_fd >= 0)
		change_dir(cwd_fd);
	if (d & DIRTY_ENV)
		call_runtime_quietly("restore_environ");
	if (d & DIRTY_TRACE)
	{
		PyEval_SetProfile(NULL, NULL);
		if (!oml_py_tracer_on())
			PyEval_SetTrace(NULL, NULL);
	}
	if (d & DIRTY_UMASK)
		umask(saved_umask);
	if (d & DIRTY_LOCALE)
		oml_state_restore_locale();
	if (d & DIRTY_SIGNAL)
	{
		restore_signals();
		signals = true;
	}
	dirty = 0;					/* also what putting back flagged */
	return signals;
}

/*
 * Is sys.path, or one of the sys attributes we keep, not as it was?
 */
static bool
sys_changed(void)
{
	PyObject   *cur;
	Py_ssize_t	n = PyTuple_GET_SIZE(path_items);

	for (int i = 0; i < N_SYS_NAMES; i++)
		if (PyDict_GetItemWithError(sys_dict, sys_keys[i]) != sys_saved[i])
			return true;
	cur = PyDict_GetItemWithError(sys_dict, path_key);
	if (cur != path_list || PyList_GET_SIZE(path_list) != n)
		return true;
	for (Py_ssize_t i = 0; i < n; i++)
		if (PyList_GET_ITEM(path_list, i) != PyTuple_GET_ITEM(path_items, i))
			return true;
	return false;
}

/*
 * After each top-level Python call: did it change anything we put back,
 * or write output?  Only compares, runs no Python code, cannot fail.
 */
bool
oml_state_changed(void)
{
	PyThreadState *ts = PyThreadState_Get();

	return dirty != 0 || out_len > 0 || out_dropped > 0 ||
		Py_GetRecursionLimit() != saved_recursion_limit ||
		ts->c_profilefunc != NULL ||
		(ts->c_tracefunc != NULL && !oml_py_tracer_on()) ||
		(saved_gc_enabled && !PyGC_IsEnabled()) ||
		sys_changed();
}

/*
 * When oml_state_changed: put back what the call changed, and report its
 * output.  The caller has set any pending Python exception aside.
 * Returns true when signal handlers were put back.
 */
bool
oml_state_after_call(void)
{
	bool		signals = false;
	PyThreadState *ts;

	if (unlikely(dirty))
		signals = restore_dirty();

	if (unlikely(Py_GetRecursionLimit() != saved_recursion_limit))
		set_recursion_limit(saved_recursion_limit);
	ts = PyThreadState_Get();
	if (unlikely(ts->c_profilefunc != NULL ||
				 (ts->c_tracefunc != NULL && !oml_py_tracer_on())))
	{
		PyEval_SetProfile(NULL, NULL);
		if (!oml_py_tracer_on())
			PyEval_SetTrace(NULL, NULL);
		dirty &= ~DIRTY_TRACE;
	}
	if (unlikely(saved_gc_enabled && !PyGC_IsEnabled()))
		PyGC_Enable();

	for (int i = 0; i < N_SYS_NAMES; i++)
	{
		PyObject   *cur = PyDict_GetItemWithError(sys_dict, sys_keys[i]);

		if (unlikely(cur != sys_saved[i]))
		{
			if (sys_saved[i])
				PyDict_SetItem(sys_dict, sys_keys[i], sys_saved[i]);
			else if (cur)
				PyDict_DelItem(sys_dict, sys_keys[i]);
			PyErr_Clear();
		}
	}
	{
		PyObject   *cur = PyDict_GetItemWithError(sys_dict, path_key);
		Py_ssize_t	n = PyTuple_GET_SIZE(path_items);
		bool		same = (cur == path_list && PyList_GET_SIZE(path_list) == n);

		for (Py_ssize_t i = 0; same && i < n; i++)
			same = PyList_GET_ITEM(path_list, i) == PyTuple_GET_ITEM(path_items, i);
		if (unlikely(!same))
		{
			if (PyList_SetSlice(path_list, 0, PY_SSIZE_T_MAX, path_items) < 0 ||
				PyDict_SetItem(sys_dict, path_key, path_list) < 0)
				PyErr_Clear();
		}
	}
	if (unlikely(out_len > 0 || out_dropped > 0))
		oml_state_flush_output();
	return signals;
}

/*
 * At the end of a statement that ran Python: put back the working
 * directory and the locale whatever changed them.  Must not raise.
 */
void
oml_state_statement_end(void)
{
	if (cwd_fd >= 0)
		change_dir(cwd_fd);
	oml_state_restore_locale();
}

/*
 * Before PostgreSQL code runs for a script (SQL from oml.sql, which may run
 * nested pyq* calls): back to the data directory if the script left it,
 * and the usual recursion limit.  oml_state_leave_pg puts the script's
 * back.
 */
void
oml_state_enter_pg(OmlPgState *st)
{
	st->limit = Py_GetRecursionLimit();
	if (unlikely(st->limit != saved_recursion_limit))
		set_recursion_limit(saved_recursion_limit);
	st->cwd = -1;
	if (likely(!(dirty & DIRTY_CWD)) || cwd_fd < 0)
		return;
	st->cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	change_dir(cwd_fd);
}

/*
 * Back to the script's directory and recursion limit.
 */
void
oml_state_leave_pg(OmlPgState *st)
{
	if (unlikely(st->limit != Py_GetRecursionLimit()))
		Py_SetRecursionLimit(st->limit);
	if (st->cwd >= 0)
	{
		change_dir(st->cwd);
		close(st->cwd);
	}
}

/*
 * _oml.write(text): sys.stdout and sys.stderr of embedded Python.  Keeps
 * up to oml_store.max_output_bytes per call, counts the rest.
 */
PyObject *
oml_state_py_write(PyObject *self, PyObject *args)
{
	PyObject   *text;
	const char *s;
	Py_ssize_t	len;
	size_t		take;

	if (!PyArg_ParseTuple(args, "U", &text) ||
		(s = PyUnicode_AsUTF8AndSize(text, &len)) == NULL)
		return NULL;
	take = len;
	if (out_len + take > (size_t) oml_max_output_bytes)
	{
		take = oml_max_output_bytes > out_len ? oml_max_output_bytes - out_len : 0;
		/* Cut at a character boundary. */
		while (take > 0 && (s[take] & 0xC0) == 0x80)
			take--;
		out_dropped += len - take;
	}
	if (take > 0)
	{
		if (out_len + take + 1 > out_cap)
		{
			size_t		cap = Max(out_cap * 2, 1024);
			char	   *p;

			while (cap < out_len + take + 1)
				cap *= 2;
			p = realloc(out_buf, cap);
			if (p == NULL)
				return PyErr_NoMemory();
			out_buf = p;
			out_cap = cap;
		}
		memcpy(out_buf + out_len, s, take);
		out_len += take;
		out_buf[out_len] = '\0';
	}
	return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text));
}

/*
 * Report captured output as one NOTICE (text in the server encoding, a
 * trailing newline dropped) and start over.
 */
void
oml_state_flush_output(void)
{
	size_t		len = out_len;
	int64		dropped = out_dropped;
	char	   *text;

	if (len == 0 && dropped == 0)
		return;
	/* Copy and reset first: the NOTICE may fail. */
	text = palloc(len + 1);
	if (len > 0)
		memcpy(text, out_buf, len);
	text[len] = '\0';
	out_len = 0;
	out_dropped = 0;
	if (oml_max_output_bytes == 0)
		return;					/* output is discarded, by request */
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	if (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			text = pg_any_to_server(text, strlen(text), PG_UTF8);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
			for (char *p = text; *p; p++)
				if (IS_HIGHBIT_SET(*p))
					*p = '?';
		}
		PG_END_TRY();
	}
	ereport(NOTICE,
			(errmsg_internal("%s", text),
			 dropped ? errdetail("Script output beyond oml_store.max_output_bytes (%d bytes) was dropped: " INT64_FORMAT " bytes.",
								 oml_max_output_bytes, dropped) : 0,
			 errcontext("output of an oml_store script")));
	pfree(text);
}
