/*-------------------------------------------------------------------------
 *
 * sandbox.c
 *	  Running sandboxed scripts in a separate, locked-down process.
 *
 * A backend that runs its first sandboxed script starts the program
 * oml_sandbox (src/sandbox/oml_sandbox.c) from the library directory: fork
 * and at once exec, with a clean environment and only a control socket
 * open.  That zygote pre-imports Python and then forks one locked-down
 * child per statement (per pyq* call site), which compiles the script and
 * runs each of the statement's calls; the child's SQL and datastore reads
 * are requests this backend runs as the calling role (serve in
 * oml_store._sandbox).  What goes to the child is pickled into sealed
 * memfds; what comes back is decoded by a decoder of plain values (never
 * unpickled), read from sealed memfds the child can no longer change.
 *
 * The backend enforces the wall-time limit and cancels (statement_timeout,
 * pg_cancel_backend) by killing the child through its pidfd; the kernel
 * enforces the rest (rlimits, namespaces, Landlock, seccomp).  Whatever
 * the child does, it can only end itself: its end is an SQL error here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "oml_store.h"
#include "sandbox/frame.h"

/* Frames carry [uint32 length][type][payload]; inline payloads are small. */
#define FRAME_HEAD OML_FRAME_HEAD
#define FRAME_MAX (64 * 1024)

/* What a spawn request asks (same layout as oml_sandbox.c's). */
typedef struct SpawnRequest
{
	uint32		id;
	uint32		cpu_seconds;
	uint64		memory;
	uint64		file_size;
	uint32		max_threads;
	uint32		max_files;
} SpawnRequest;

/* A sandboxed child serving one pyq* call site's statement. */
struct OmlSandbox
{
	uint32		id;
	int			call_fd;		/* our end of the child's socket */
	int			pidfd;			/* kills the child */
	int			lock_slot;		/* per-role slot held, or -1 */
	Oid			lock_role;
	int64		script_id;
	char	   *source;			/* what the child compiled */
	Oid			caller;
	bool		readable;		/* may the caller read the source? */
	bool		loaded_untrusted;	/* has unpickled others' objects */
	bool		loaded_by_usage;	/* has had bytes through a usage grant */
	int			subxacts;		/* subtransactions the child has open */
	MemoryContext subxact_cxt[32];	/* what to return to at their end */
	ResourceOwner subxact_owner[32];
};

/* The child whose load request the backend serves now (or NULL). */
static OmlSandbox *serving_sandbox = NULL;

/* Settings. */
bool		oml_sandbox_all = false;
/* Sandboxed calls running in this backend (see oml_role_is_trusted). */
int			oml_sandbox_depth = 0;
static int	sandbox_memory_kb = 1024 * 1024;
static int	sandbox_cpu_s = 60;
static int	sandbox_wall_ms = 300 * 1000;
static int	sandbox_max_per_role = 4;
static int	sandbox_file_kb = 100 * 1024;

/* The zygote of this backend. */
static pid_t zygote_pid = 0;
static int	zygote_fd = -1;
static uint32 next_id = 1;

/* Child end statuses the zygote reported before anyone asked for them. */
#define MAX_ENDED 64
static struct
{
	uint32		id;
	int			status;
}			ended[MAX_ENDED];
static int	nended = 0;

static PyObject *host_mod = NULL;	/* oml_store._sandbox, in this backend */
static PyObject *load_readable_fn = NULL;

static PyMethodDef load_readable_def = {
	"load_readable", oml_py_load_readable, METH_VARARGS,
	"Objects of a readable datastore, whoever wrote them (for the sandbox)."
};

/*
 * Define the settings (from _PG_init).
 */
void
oml_sandbox_init(void)
{
	DefineCustomBoolVariable("oml_store.sandbox_all",
							 "Runs every script in the sandbox.",
							 "Superusers only.  Sandboxed scripts always run there.",
							 &oml_sandbox_all, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.sandbox_memory",
							"Memory a sandboxed script may map beyond the pre-imported runtime.",
							"0 means no limit.",
							&sandbox_memory_kb, 1024 * 1024, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.sandbox_cpu_time",
							"CPU time a sandboxed statement may use.",
							"0 means no limit.",
							&sandbox_cpu_s, 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.sandbox_wall_time",
							"Wall-clock time a sandboxed statement may take.",
							"0 means no limit.",
							&sandbox_wall_ms, 300 * 1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.sandbox_max_per_role",
							"Sandboxes one role may run at the same time, in the whole cluster.",
							"0 means no limit.",
							&sandbox_max_per_role, 4, 0, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("oml_store.sandbox_file_size",
							"Largest file a sandboxed script may write in its temporary directory.",
							NULL,
							&sandbox_file_kb, 100 * 1024, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

/* The zygote is gone or unusable: forget it. */
static void
zygote_forget(void)
{
	if (zygote_fd >= 0)
		close(zygote_fd);
	zygote_fd = -1;
	if (zygote_pid > 0)
	{
		kill(zygote_pid, SIGKILL);
		waitpid(zygote_pid, NULL, 0);
	}
	zygote_pid = 0;
	nended = 0;
}

/*
 * Send a frame with an optional fd attached; false if the peer is gone, or
 * (errno ETIMEDOUT) when it has not made room by deadline_ms from start (0:
 * no deadline).  Never blocks in the kernel: a peer that reads nothing
 * (a child flooding requests) must not make us uncancellable.
 */
static bool
send_frame(int sock, char type, const void *payload, uint32 len, int fd,
		   TimestampTz start, int deadline_ms)
{
	for (;;)
	{
		ssize_t		n = oml_frame_send_flags(sock, type, payload, len, fd,
											 MSG_DONTWAIT);
		long		wait_ms = 100;

		if (n == (ssize_t) (FRAME_HEAD + len))
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			if (deadline_ms > 0)
			{
				long		left = deadline_ms -
					(long) ((GetCurrentTimestamp() - start) / 1000);

				if (left <= 0)
				{
					errno = ETIMEDOUT;
					return false;
				}
				wait_ms = Min(wait_ms, left);
			}
			(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_WRITEABLE |
									 WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 sock, wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		return false;
	}
}

/* A received frame. */
typedef struct Frame
{
	char		type;			/* 0: the peer closed its end */
	char	   *payload;
	uint32		len;
	int			fd;				/* -1 if none */
} Frame;

/*
 * Receive a frame, waiting (interruptibly) until deadline_ms from start (0:
 * forever).  Returns false on timeout.  Extra fds and malformed frames end
 * the peer's credibility: ERROR.
 */
static bool
recv_frame(int sock, Frame *f, TimestampTz start, int deadline_ms)
{
	static char *buf = NULL;

	if (buf == NULL)
		buf = MemoryContextAlloc(TopMemoryContext, FRAME_MAX + FRAME_HEAD);
	f->fd = -1;
	for (;;)
	{
		struct iovec iov = {buf, FRAME_MAX + FRAME_HEAD};
		struct msghdr msg = {0};
		union
		{
			char		buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		}			cm;
		ssize_t		n;
		long		wait_ms = 1000;

		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0)
		{
			struct cmsghdr *c;
			int			nfds = 0;

			for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			{
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				{
					int			count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

					for (int i = 0; i < count; i++)
					{
						int			fd;

						memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
						if (nfds++ == 0)
							f->fd = fd;
						else
							close(fd);
					}
				}
			}
			if (n == 0)
			{
				/* The end (or an empty message): nothing it carries is kept. */
				if (f->fd >= 0)
					close(f->fd);
				f->fd = -1;
				f->type = 0;
				return true;
			}
			if (nfds > 1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
				n < FRAME_HEAD || (uint32) (n - FRAME_HEAD) != *(uint32 *) buf)
			{
				if (f->fd >= 0)
					close(f->fd);
				f->fd = -1;
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("sandbox process sent a malformed message")));
			}
			f->type = buf[4];
			f->len = n - FRAME_HEAD;
			f->payload = buf + FRAME_HEAD;
			return true;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
		{
			f->type = 0;		/* ECONNRESET and the like: gone */
			return true;
		}
		if (deadline_ms > 0)
		{
			long		left = deadline_ms -
				(long) ((GetCurrentTimestamp() - start) / 1000);

			if (left <= 0)
				return false;
			wait_ms = Min(wait_ms, left);
		}
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE |
								 WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 sock, wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Read zygote frames until one about child id arrives (or timeout). */
static bool
zygote_wait(char want, uint32 id, int timeout_ms, int *value, int *fd)
{
	TimestampTz start = GetCurrentTimestamp();

	if (want == 'X')
	{
		for (int i = 0; i < nended; i++)
			if (ended[i].id == id)
			{
				*value = ended[i].status;
				ended[i] = ended[--nended];
				return true;
			}
	}
	for (;;)
	{
		Frame		f;
		int32		v[2];

		if (!recv_frame(zygote_fd, &f, start, timeout_ms))
			return false;
		if (f.type == 0)
		{
			zygote_forget();
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("sandbox zygote process ended unexpectedly"),
					 errhint("The next sandboxed call starts a new one.")));
		}
		if ((f.type == 'P' && f.len == 4) || (f.type == 'X' && f.len == 8))
			memcpy(v, f.payload, f.len);
		else
		{
			if (f.fd >= 0)
				close(f.fd);
			zygote_forget();
			elog(ERROR, "sandbox zygote sent an unexpected frame");
		}
		if (want == 'P' && f.type == 'X' && (uint32) v[0] == id)
		{
			/* The zygote could not start it (no slot, mkdir or clone). */
			*fd = -1;
			return true;
		}
		if (f.type == want && (uint32) v[0] == id)
		{
			if (want == 'P')
				*fd = f.fd;
			else
				*value = v[1];
			return true;
		}
		if (f.fd >= 0)
			close(f.fd);
		if (f.type == 'X')
		{
			/* Keep the newest: old entries are of children closed since. */
			if (nended == MAX_ENDED)
			{
				memmove(&ended[0], &ended[1], sizeof(ended[0]) * (MAX_ENDED - 1));
				nended--;
			}
			ended[nended].id = v[0];
			ended[nended].status = v[1];
			nended++;
		}
	}
}

/* Path of the installed program. */
static char *
program_path(void)
{
	return psprintf("%s/oml_sandbox", pkglib_path);
}

/* The directory that holds the oml_store Python package. */
static char *
package_dir(void)
{
	char		sharepath[MAXPGPATH];

	get_share_path(my_exec_path, sharepath);
	return psprintf("%s/extension/oml_store_python", sharepath);
}

/*
 * Start this backend's zygote: fork, and in the child only system calls
 * and an exec (no PostgreSQL code, nothing of the backend survives).
 */
static void
zygote_start(void)
{
	int			sv[2];
	char	   *prog = program_path();
	char	   *pkgdir = package_dir();
	char	   *argv[3];
	char	   *envp[] = {
		"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
		"HOME=/nonexistent", "MPLBACKEND=Agg", "OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", NULL
	};
	pid_t		parent = getpid();
	pid_t		pid;
	int			value;
	Frame		f;

	if (access(prog, X_OK) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("sandbox program \"%s\" is not installed", prog)));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create a socket pair for the sandbox: %m")));
	argv[0] = prog;
	argv[1] = pkgdir;
	argv[2] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0)
	{
		int			devnull = open("/dev/null", O_RDWR);
		sigset_t	all;

		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
			dup2(devnull, 2) < 0 || dup2(sv[1], 3) < 0)
			_exit(126);
		syscall(SYS_close_range, 4, ~0U, 0);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* The zygote cleans up and ends on SIGHUP (or EOF). */
		prctl(PR_SET_PDEATHSIG, SIGHUP);
		if (getppid() != parent)
			_exit(125);
		setsid();
		execve(prog, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0)
	{
		close(sv[0]);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not fork the sandbox process: %m")));
	}
	zygote_pid = pid;
	zygote_fd = sv[0];
	nended = 0;
	PG_TRY();
	{
		if (!recv_frame(zygote_fd, &f, GetCurrentTimestamp(), 120 * 1000))
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("sandbox process did not start in time")));
		if (f.type == 'F')
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("sandbox unavailable: this system lacks a feature it needs"),
					 errdetail("Missing: %.*s.", (int) f.len, f.payload),
					 errhint("Sandboxed scripts need user namespaces, Landlock and seccomp; they never run unsandboxed.")));
		if (f.type != 'R')
		{
			int			status = 0;

			waitpid(zygote_pid, &status, 0);
			zygote_pid = 0;
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("sandbox process failed to start"),
					 errdetail("It ended with status %d.", status)));
		}
		(void) value;
	}
	PG_CATCH();
	{
		zygote_forget();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The backend's Python half of the sandbox. */
static void
host_init(void)
{
	oml_py_init();
	if (host_mod == NULL)
	{
		host_mod = PyImport_ImportModule("oml_store._sandbox");
		if (host_mod == NULL)
			oml_py_raise(NULL);
	}
	if (load_readable_fn == NULL)
	{
		load_readable_fn = PyCFunction_New(&load_readable_def, NULL);
		if (load_readable_fn == NULL)
			oml_py_raise(NULL);
	}
}

/* Call a function of oml_store._sandbox in this backend (new reference). */
static PyObject *
host_call(const char *fname, PyObject *args)
{
	PyObject   *fn;
	PyObject   *res;

	if (args == NULL)
		oml_py_raise(NULL);
	fn = PyObject_GetAttrString(host_mod, fname);
	if (fn == NULL)
	{
		Py_DECREF(args);
		oml_py_raise(NULL);
	}
	res = oml_py_call_guarded(fn, args, NULL);
	Py_DECREF(fn);
	Py_DECREF(args);
	if (res == NULL)
		oml_py_raise(NULL);
	return res;
}

static void report_end(OmlSandbox *sb, const char *scr_name);

/* The child used up oml_store.sandbox_wall_time: kill it, raise. */
static void
wall_time_out(OmlSandbox *sb, const char *scr_name)
{
	oml_sandbox_close(sb);
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("sandboxed script \"%s\" ran out of wall-clock time", scr_name),
			 errdetail("oml_store.sandbox_wall_time is %d ms.", sandbox_wall_ms),
			 errhint("The sandbox was killed; the session is still usable.")));
}

/*
 * Send obj (stolen) to sb's child as a frame of type: pickled, inline when
 * small, else in a sealed memfd.  A child that is gone, or that reads
 * nothing until the wall time is up, is an ERROR.
 */
static void
host_send(OmlSandbox *sb, char type, PyObject *obj, const char *scr_name,
		  TimestampTz start)
{
	PyObject   *volatile res = host_call("pack", Py_BuildValue("(N)", obj));
	volatile int fd = -1;
	bool		ok = false;
	int			err = 0;

	PG_TRY();
	{
		if (PyBytes_Check(res))
		{
			if (PyBytes_GET_SIZE(res) > FRAME_MAX)
				elog(ERROR, "sandbox pack returned too much to send inline");
			ok = send_frame(sb->call_fd, type, PyBytes_AS_STRING(res),
							(uint32) PyBytes_GET_SIZE(res), -1,
							start, sandbox_wall_ms);
		}
		else
		{
			fd = (int) PyLong_AsLong(res);
			if (fd < 0)
				elog(ERROR, "sandbox pack returned no descriptor");
			ok = send_frame(sb->call_fd, type, NULL, 0, fd,
							start, sandbox_wall_ms);
		}
		err = errno;
	}
	PG_FINALLY();
	{
		if (fd >= 0)
			close(fd);
		Py_DECREF(res);
	}
	PG_END_TRY();
	if (!ok && err == ETIMEDOUT)
		wall_time_out(sb, scr_name);
	if (!ok)
		report_end(sb, scr_name);
}

/* Release a per-role slot. */
static void
release_slot(OmlSandbox *sb)
{
	LOCKTAG		tag;

	if (sb->lock_slot < 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, InvalidOid, sb->lock_role, sb->lock_slot,
						 OML_LOCK_CLASS + 1);
	LockRelease(&tag, ExclusiveLock, true);
	sb->lock_slot = -1;
}

/* Take one of the calling role's oml_store.sandbox_max_per_role slots. */
static void
take_slot(OmlSandbox *sb)
{
	Oid			role = GetUserId();

	sb->lock_slot = -1;
	if (sandbox_max_per_role <= 0)
		return;
	for (int slot = 0; slot < sandbox_max_per_role; slot++)
	{
		LOCKTAG		tag;
		LockAcquireResult r;

		SET_LOCKTAG_ADVISORY(tag, InvalidOid, role, slot, OML_LOCK_CLASS + 1);
		r = LockAcquire(&tag, ExclusiveLock, true, true);
		if (r == LOCKACQUIRE_OK)
		{
			sb->lock_slot = slot;
			sb->lock_role = role;
			return;
		}
		if (r == LOCKACQUIRE_ALREADY_HELD || r == LOCKACQUIRE_ALREADY_CLEAR)
			LockRelease(&tag, ExclusiveLock, true);	/* ours: nested call */
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("role \"%s\" already runs %d sandboxes",
					GetUserNameFromId(role, false), sandbox_max_per_role),
			 errdetail("oml_store.sandbox_max_per_role is %d for this role.",
					   sandbox_max_per_role),
			 errhint("Wait for the role's other sandboxed statements to end.")));
}

/*
 * End a sandbox: kill the child and release what it held.  Runs in
 * memory-context cleanup too: never raises.
 */
void
oml_sandbox_close(OmlSandbox *sb)
{
	if (sb == NULL)
		return;
	if (sb->pidfd >= 0)
	{
		syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
		close(sb->pidfd);
		sb->pidfd = -1;
	}
	if (sb->call_fd >= 0)
	{
		close(sb->call_fd);
		sb->call_fd = -1;
	}
	release_slot(sb);
}

/* The error for a child that ended, from its wait status. */
static void
report_end(OmlSandbox *sb, const char *scr_name)
{
	int			status = -1;
	bool		known;

	known = zygote_fd >= 0 && zygote_wait('X', sb->id, 2000, &status, NULL);
	oml_sandbox_close(sb);
	if (known && WIFSIGNALED(status) &&
		(WTERMSIG(status) == SIGXCPU ||
		 (WTERMSIG(status) == SIGKILL && sandbox_cpu_s > 0)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sandboxed script \"%s\" was killed by signal %d",
						scr_name, WTERMSIG(status)),
				 errdetail("%s", WTERMSIG(status) == SIGXCPU ?
						   "It used up its CPU time (oml_store.sandbox_cpu_time)." :
						   "It used up its CPU time (oml_store.sandbox_cpu_time), or ran out of memory."),
				 errhint("The session is still usable.")));
	if (known && WIFSIGNALED(status))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("sandboxed script \"%s\" crashed: the sandbox process was killed by signal %d",
						scr_name, WTERMSIG(status)),
				 errhint("The session is still usable.")));
	ereport(ERROR,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("sandboxed script \"%s\" ended its sandbox process", scr_name),
			 known && WIFEXITED(status) ?
			 errdetail("It exited with status %d.", WEXITSTATUS(status)) : 0,
			 errhint("The session is still usable.")));
}

/* Raise the error a child reported for the script. */
static void
raise_child_error(const Frame *f)
{
	PyObject   *err = host_call("error_tuple",
								Py_BuildValue("(Ni)", PyBytes_FromStringAndSize(f->payload, f->len), f->fd));
	const char *s[5] = {NULL};
	char	   *msg;
	char	   *trace;
	char	   *detail;
	char	   *hint;
	char	   *code;

	for (int i = 0; i < 5; i++)
	{
		PyObject   *item = PyTuple_GetItem(err, i);

		if (item && item != Py_None)
			s[i] = PyUnicode_AsUTF8(item);
		PyErr_Clear();
	}
	msg = pstrdup(s[0] ? s[0] : "unknown Python error in the sandbox");
	trace = s[1] ? pstrdup(s[1]) : NULL;
	code = s[2] ? pstrdup(s[2]) : NULL;
	detail = s[3] ? pstrdup(s[3]) : trace;
	hint = s[4] ? pstrdup(s[4]) : NULL;
	Py_DECREF(err);
	/* Codes a script may raise, as oml_py_raise allows them. */
	if (code && strlen(code) == 5 &&
		strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5 &&
		strncmp(code, "00", 2) != 0 && strncmp(code, "01", 2) != 0 &&
		strncmp(code, "02", 2) != 0 && strncmp(code, "57", 2) != 0 &&
		strncmp(code, "XX", 2) != 0)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
				 errmsg_internal("%s", msg),
				 detail ? errdetail_internal("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg_internal("%s", msg),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/* Start a child for sb: a slot, the zygote if needed, the spawn. */
static void
spawn_child(OmlSandbox *sb)
{
	int			sv[2];
	SpawnRequest req = {0};
	int			pidfd = -1;

	take_slot(sb);
	if (zygote_fd < 0)
		zygote_start();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create a socket pair for the sandbox: %m")));
	sb->id = next_id++;
	req.id = sb->id;
	req.cpu_seconds = sandbox_cpu_s;
	req.memory = (uint64) sandbox_memory_kb * 1024;
	req.file_size = (uint64) sandbox_file_kb * 1024;
	req.max_threads = 64;
	req.max_files = 64;
	if (!send_frame(zygote_fd, 'S', &req, sizeof(req), sv[1], 0, 0))
	{
		close(sv[0]);
		close(sv[1]);
		zygote_forget();
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("sandbox zygote process is gone"),
				 errhint("The next sandboxed call starts a new one.")));
	}
	close(sv[1]);
	sb->call_fd = sv[0];
	if (!zygote_wait('P', sb->id, 30 * 1000, NULL, &pidfd) || pidfd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("sandbox process could not start a child")));
	sb->pidfd = pidfd;
}

/*
 * A subtransaction action a child asked for: it stays open across the
 * child's requests (its block of statements), so it is ours, not Python's.
 */
static void
subxact(OmlSandbox *sb, const char *action)
{
	if (strcmp(action, "begin") == 0)
	{
		if (sb->subxacts >= lengthof(sb->subxact_cxt))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many nested oml_store transactions")));
		sb->subxact_cxt[sb->subxacts] = CurrentMemoryContext;
		sb->subxact_owner[sb->subxacts] = CurrentResourceOwner;
		BeginInternalSubTransaction(NULL);
		sb->subxacts++;
		MemoryContextSwitchTo(sb->subxact_cxt[sb->subxacts - 1]);
		return;
	}
	if (sb->subxacts <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("no oml_store transaction of this script is open")));
	sb->subxacts--;
	if (strcmp(action, "commit") == 0)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(sb->subxact_cxt[sb->subxacts]);
	CurrentResourceOwner = sb->subxact_owner[sb->subxacts];
}

/* Roll back the subtransactions a child left open. */
static void
close_subxacts(OmlSandbox *sb)
{
	while (sb->subxacts > 0)
		subxact(sb, "rollback");
}

/*
 * Wait for the child's answer to what was just sent, serving its requests
 * meanwhile; the decoded result (new reference) for 'R', NULL for 'K'.
 */
static PyObject *
await_answer(OmlSandbox *sb, const char *scr_name, TimestampTz start)
{
	for (;;)
	{
		Frame		f;
		PyObject   *res;

		if (!recv_frame(sb->call_fd, &f, start, sandbox_wall_ms))
			wall_time_out(sb, scr_name);
		switch (f.type)
		{
			case 0:
				report_end(sb, scr_name);
				break;
			case 'K':
				if (f.fd >= 0)
					close(f.fd);
				return NULL;
			case 'R':
				return host_call("unpack", Py_BuildValue("(Ni)", PyBytes_FromStringAndSize(f.payload, f.len), f.fd));
			case 'E':
				raise_child_error(&f);
				break;
			case 'w':
				res = host_call("write", Py_BuildValue("(Ni)", PyBytes_FromStringAndSize(f.payload, f.len), f.fd));
				Py_DECREF(res);
				break;
			case 'q':
				{
					OmlSandbox *prev = serving_sandbox;

					serving_sandbox = sb;
					PG_TRY();
					{
						res = host_call("serve", Py_BuildValue("(NiO)", PyBytes_FromStringAndSize(f.payload, f.len),
															   f.fd, load_readable_fn));
					}
					PG_FINALLY();
					{
						serving_sandbox = prev;
					}
					PG_END_TRY();
					if (PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 3 &&
						PyUnicode_Check(PyTuple_GET_ITEM(res, 1)))
					{
						const char *action = PyUnicode_AsUTF8(PyTuple_GET_ITEM(res, 1));

						if (action == NULL)
							elog(ERROR, "sandbox serve returned a bad action");
						subxact(sb, action);
						Py_DECREF(res);
						res = Py_BuildValue("(sO)", "ok", Py_None);
					}
					host_send(sb, 'r', res, scr_name, start);
					break;
				}
			default:
				if (f.fd >= 0)
					close(f.fd);
				oml_sandbox_close(sb);
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("sandbox process sent a malformed message")));
		}
	}
}

/*
 * The child being served loads objects of datastore ds_name: untrusted
 * when some were written by a role neither trusted nor the script's owner
 * (their unpickling runs that role's code in the child), by_usage when the
 * caller may load the datastore only through a usage grant.  The two never
 * meet in one child, which keeps its memory from call to call: code of the
 * caller's objects could hand the granted objects to the caller (42501).
 */
void
oml_sandbox_note_load(const char *ds_name, bool untrusted, bool by_usage)
{
	OmlSandbox *sb = serving_sandbox;

	if (sb == NULL)
		return;
	if ((untrusted && (by_usage || sb->loaded_by_usage)) ||
		(by_usage && sb->loaded_untrusted))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to load datastore \"%s\" in this sandbox", ds_name),
				 errdetail("A sandboxed script that loads a datastore through a usage grant cannot also unpickle objects written by roles other than trusted roles and the script's owner: their code could hand the granted objects to the caller."),
				 errhint("Pass the caller's data as input rows, not as a datastore of the caller's.")));
	sb->loaded_untrusted |= untrusted;
	sb->loaded_by_usage |= by_usage;
}

/*
 * Run one call of a sandboxed script: call is (args, kwargs, controls,
 * out_fmt, names), stolen.  *sbp holds the call site's child (made here on
 * first use, in mcxt; the caller closes it with oml_sandbox_close).  The
 * rows as _runtime.run returns them (new reference); any failure is an
 * ERROR, after which the child is gone.
 */
PyObject *
oml_sandbox_run(OmlSandbox **sbp, MemoryContext mcxt, const OmlScript *scr,
				PyObject *call)
{
	OmlSandbox *volatile sb = *sbp;
	PyObject   *volatile rows = NULL;
	TimestampTz start = GetCurrentTimestamp();

	host_init();
	if (sb != NULL && (sb->call_fd < 0 || sb->caller != GetUserId() ||
					   sb->script_id != scr->id || sb->readable != scr->readable ||
					   strcmp(sb->source, scr->source) != 0))
	{
		oml_sandbox_close(sb);
		pfree(sb->source);
		pfree(sb);
		*sbp = sb = NULL;
	}
	if (sb == NULL)
	{
		sb = MemoryContextAllocZero(mcxt, sizeof(OmlSandbox));
		sb->call_fd = -1;
		sb->pidfd = -1;
		sb->lock_slot = -1;
		sb->script_id = scr->id;
		sb->caller = GetUserId();
		sb->readable = scr->readable;
		sb->source = MemoryContextStrdup(mcxt, scr->source);
		*sbp = sb;
	}
	PG_TRY();
	{
		if (sb->call_fd < 0)
		{
			spawn_child(sb);
			host_send(sb, 'C',
					  Py_BuildValue("(LIssO)", (long long) scr->id,
									(unsigned int) sb->caller,
									scr->name, scr->source,
									sb->readable ? Py_True : Py_False),
					  scr->name, start);
			Py_XDECREF(await_answer(sb, scr->name, start));
		}
		{
			PyObject   *obj = call;

			call = NULL;
			host_send(sb, 'I', obj, scr->name, start);
		}
		rows = await_answer(sb, scr->name, start);
		if (sb->subxacts > 0)
		{
			close_subxacts(sb);
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("RuntimeError: a transaction opened by the script was left open and has been rolled back")));
		}
	}
	PG_CATCH();
	{
		Py_XDECREF(call);
		oml_sandbox_close(sb);
		if (sb->subxacts > 0)
		{
			/* Ours first, so that the caller's error handling finds its own. */
			MemoryContext ecxt = MemoryContextSwitchTo(sb->subxact_cxt[0]);
			ErrorData  *edata = CopyErrorData();

			FlushErrorState();
			close_subxacts(sb);
			MemoryContextSwitchTo(ecxt);
			ReThrowError(edata);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	return rows;
}

/*
 * May roleid create sandboxed scripts (a member of oml_sandbox_user)?
 */
bool
oml_sandbox_may_create(Oid roleid)
{
	Oid			group = get_role_oid("oml_sandbox_user", true);

	return OidIsValid(group) && has_privs_of_role(roleid, group);
}
