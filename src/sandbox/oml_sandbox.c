/*-------------------------------------------------------------------------
 *
 * oml_sandbox.c
 *	  The sandbox program: a zygote that pre-imports Python and forks one
 *	  locked-down child per sandboxed pyq* statement.
 *
 * A backend starts this program by fork and an immediate exec, with a clean
 * environment, stdin/stdout/stderr on /dev/null and one control socket as
 * fd 3.  The zygote initialises Python, imports numpy, pandas, matplotlib
 * (Agg) and the oml_store package (after checking the kernel features the
 * children need and moving into new user, network and IPC namespaces: no
 * network interface but an unconfigured loopback, no System V IPC shared
 * with anyone) and waits.  It never runs user code.
 *
 * For each statement the backend sends a spawn request carrying the child's
 * own socket; the zygote clones a child into a new PID namespace and sends
 * back a pidfd for it (the backend kills the child with it on cancel or
 * timeout).  The child locks itself down before any user code runs: all
 * other fds closed, rlimits, every capability dropped, no_new_privs,
 * Landlock (read-only system trees, read-write only its private temporary
 * directory, abstract Unix sockets and signals scoped), and a seccomp
 * filter (no sockets, exec, fork, ptrace, kill of others, ...).  When a
 * child ends, the zygote removes its temporary directory and reports the
 * exit status.
 *
 * Control frames, both directions: uint32 length, one type byte, payload.
 *	  backend -> zygote: 'S' spawn (struct SpawnRequest), child socket attached
 *	  zygote -> backend: 'R' ready, 'F' failed (text naming the missing
 *						 feature), 'P' spawned (uint32 id, pidfd attached),
 *						 'X' ended (uint32 id, int32 wait status)
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"

#define CTL_FD 3

/*
 * Landlock's ABI, defined here: Debian 12's kernel headers predate ABI 3
 * (truncate), 4 (TCP) and 6 (scopes), which newer kernels have.
 */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ABI1_ALL ((1ULL << 13) - 1)	/* execute .. make_sym */
#define LL_FS_REFER (1ULL << 13)	/* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)	/* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)	/* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr
{
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};

struct ll_path_beneath_attr
{
	uint64_t	allowed_access;
	int32_t		parent_fd;
} __attribute__((packed));
#define MAX_CHILDREN 64

/* What the backend asks of one child (native byte order, same machine). */
typedef struct SpawnRequest
{
	uint32_t	id;
	uint32_t	cpu_seconds;	/* RLIMIT_CPU; 0: none */
	uint64_t	memory;			/* bytes beyond what the zygote maps; 0:
								 * none */
	uint64_t	file_size;		/* RLIMIT_FSIZE */
	uint32_t	max_threads;	/* RLIMIT_NPROC */
	uint32_t	max_files;		/* RLIMIT_NOFILE */
} SpawnRequest;

typedef struct Child
{
	pid_t		pid;
	uint32_t	id;
	char		dir[256];
} Child;

static Child children[MAX_CHILDREN];
static char tmp_root[256];
static int	landlock_abi;

/* Send one frame, optionally with an fd attached; false on failure. */
static int
send_frame(int sock, char type, const void *payload, uint32_t len, int fd)
{
	return oml_frame_send(sock, type, payload, len, fd) ==
		(ssize_t) (OML_FRAME_HEAD + len);
}

static void rm_tree(const char *dir);

/* Report a missing feature to the backend and end. */
static void
fail(const char *what)
{
	char		buf[512];

	snprintf(buf, sizeof(buf), "%s: %s", what, strerror(errno));
	send_frame(CTL_FD, 'F', buf, strlen(buf), -1);
	if (tmp_root[0] == '/')
		rm_tree(tmp_root);
	_exit(1);
}

/* Write text to a /proc file of ours. */
static int
write_file(const char *path, const char *text)
{
	int			fd = open(path, O_WRONLY | O_CLOEXEC);
	int			ok;

	if (fd < 0)
		return 0;
	ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
	close(fd);
	return ok;
}

/* Enter new user, network and IPC namespaces, as the same uid and gid. */
static void
enter_namespaces(void)
{
	uid_t		uid = getuid();
	gid_t		gid = getgid();
	char		map[64];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) != 0)
		fail("user, network and IPC namespaces (unshare)");
	snprintf(map, sizeof(map), "%u %u 1", (unsigned) uid, (unsigned) uid);
	if (!write_file("/proc/self/uid_map", map))
		fail("user namespace uid_map");
	if (!write_file("/proc/self/setgroups", "deny"))
		fail("user namespace setgroups");
	snprintf(map, sizeof(map), "%u %u 1", (unsigned) gid, (unsigned) gid);
	if (!write_file("/proc/self/gid_map", map))
		fail("user namespace gid_map");
}

/* Check the features the children need, before reporting ready. */
static void
check_features(void)
{
	scmp_filter_ctx ctx;

	landlock_abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
						   LL_CREATE_RULESET_VERSION);
	if (landlock_abi < 1)
		fail("Landlock (landlock_create_ruleset)");
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
		fail("seccomp (prctl PR_GET_SECCOMP)");
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
	{
		errno = ENOSYS;
		fail("seccomp (libseccomp)");
	}
	seccomp_release(ctx);
}

/* nftw callback removing one entry. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Remove a directory tree of ours. */
static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Add a read-only (or read-write) rule for a path to a Landlock ruleset. */
static void
landlock_path(int ruleset, const char *path, uint64_t access, int required)
{
	struct ll_path_beneath_attr attr = {0};
	struct stat st;
	int			fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
	{
		if (required)
			_exit(70);
		return;
	}
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_EXECUTE |
			(landlock_abi >= 3 ? LL_FS_TRUNCATE : 0) |
			(landlock_abi >= 5 ? LL_FS_IOCTL_DEV : 0);
	attr.allowed_access = access;
	attr.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH,
				&attr, 0) != 0 && required)
		_exit(71);
	close(fd);
}

/* Confine the file system, TCP and (ABI 6 on) signals and abstract sockets. */
static void
apply_landlock(const char *dir, const char *pkgdir)
{
	struct ll_ruleset_attr rs = {0};
	uint64_t	fs_all = LL_FS_ABI1_ALL;
	uint64_t	ro = LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE;
	int			ruleset;
	size_t		size;
	static const char *const ro_trees[] = {
		"/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime",
		"/etc/matplotlibrc", "/etc/fonts", NULL
	};

	if (landlock_abi >= 2)
		fs_all |= LL_FS_REFER;
	if (landlock_abi >= 3)
		fs_all |= LL_FS_TRUNCATE;
	if (landlock_abi >= 5)
		fs_all |= LL_FS_IOCTL_DEV;
	rs.handled_access_fs = fs_all;
	size = offsetof(struct ll_ruleset_attr, handled_access_net);
	if (landlock_abi >= 4)
	{
		rs.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (landlock_abi >= 6)
	{
		rs.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		size = sizeof(rs);
	}
	ruleset = syscall(SYS_landlock_create_ruleset, &rs, size, 0);
	if (ruleset < 0)
		_exit(72);
	for (int i = 0; ro_trees[i]; i++)
		landlock_path(ruleset, ro_trees[i], ro, 0);
	landlock_path(ruleset, pkgdir, ro, 1);
	landlock_path(ruleset, "/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE, 0);
	landlock_path(ruleset, "/dev/urandom", LL_FS_READ_FILE, 0);
	landlock_path(ruleset, dir, fs_all, 1);
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
		_exit(73);
	close(ruleset);
}

/* Deny a syscall with EPERM (ENOSYS where libc should fall back). */
static void
deny(scmp_filter_ctx ctx, int nr, int err)
{
	if (nr >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0) != 0)
		_exit(74);
}

/* The seccomp filter: allow by default, refuse what could leave the box. */
static void
apply_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	static const char *const denied[] = {
		"socket", "socketpair", "connect", "bind", "listen", "accept",
		"accept4", "execve", "execveat", "fork", "vfork", "ptrace",
		"process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd",
		"pidfd_send_signal", "process_madvise", "kcmp", "mount", "umount2",
		"pivot_root", "chroot", "unshare", "setns", "keyctl", "add_key",
		"request_key", "bpf", "perf_event_open", "userfaultfd",
		"io_uring_setup", "io_uring_enter", "io_uring_register",
		"open_by_handle_at", "name_to_handle_at", "init_module",
		"finit_module", "delete_module", "kexec_load", "kexec_file_load",
		"reboot", "swapon", "swapoff", "mknod", "mknodat", "iopl", "ioperm",
		"syslog", "acct", "settimeofday", "clock_settime", "clock_adjtime",
		"adjtimex", "quotactl", "quotactl_fd", "move_mount", "fsopen",
		"fsconfig", "fsmount", "fspick", "open_tree", "mount_setattr",
		"personality", "sethostname", "setdomainname", "vhangup",
		"move_pages", "migrate_pages", "lookup_dcookie", "uselib", "ustat",
		"sysfs", "setsid", "setpgid",
		NULL
	};

	if (ctx == NULL)
		_exit(75);
	for (int i = 0; denied[i]; i++)
		deny(ctx, seccomp_syscall_resolve_name(denied[i]), EPERM);
	/* clone3 cannot be filtered by its flags: glibc falls back to clone. */
	deny(ctx, seccomp_syscall_resolve_name("clone3"), ENOSYS);
	/* clone only for threads. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
						 SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)) != 0)
		_exit(76);
	/* Signals only to ourselves (pid 1 of our PID namespace, or 0). */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
						 SCMP_A0(SCMP_CMP_GT, 1)) != 0 ||
		seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
						 SCMP_A0(SCMP_CMP_LT, 0)) != 0 ||
		seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1,
						 SCMP_A0(SCMP_CMP_NE, 1)) != 0)
		_exit(77);
	if (seccomp_load(ctx) != 0)
		_exit(78);
	seccomp_release(ctx);
}

/* Set one rlimit, soft and hard. */
static void
limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = {soft, hard};

	if (setrlimit(resource, &rl) != 0)
		_exit(79);
}

/* Bytes of address space this process maps now. */
static uint64_t
mapped_bytes(void)
{
	FILE	   *f = fopen("/proc/self/statm", "re");
	unsigned long pages = 0;

	if (f)
	{
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (uint64_t) pages * (uint64_t) sysconf(_SC_PAGESIZE);
}

/* Drop every capability (we hold all of them in our user namespace). */
static void
drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
			_exit(80);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		_exit(81);
}

/*
 * Make the child's directory a tmpfs of its own, in a mount namespace of
 * its own, as large as one file may be: RLIMIT_FSIZE bounds each file, this
 * bounds them all (many files must not fill the disk the server writes its
 * WAL on).  It vanishes with the child.
 */
static void
mount_private_tmp(const char *dir, uint64_t file_size)
{
	char		opts[128];

	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=16384,mode=0700",
			 (unsigned long long) (file_size ? file_size : 4096));
	if (unshare(CLONE_NEWNS) != 0 ||
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		mount("oml_sandbox", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  opts) != 0)
		_exit(87);
}

/*
 * In the child, before any user code: keep only the call socket (as fd 3),
 * then rlimits, capabilities, no_new_privs, Landlock and seccomp.
 */
static void
lock_down(int call_fd, const char *dir, const char *pkgdir,
		  const SpawnRequest *req)
{
	uint64_t	base;
	sigset_t	none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (call_fd != CTL_FD)
	{
		if (dup2(call_fd, CTL_FD) < 0)
			_exit(82);
	}
	if (syscall(SYS_close_range, CTL_FD + 1, ~0U, 0) != 0)
		_exit(83);
	if (setsid() < 0)
		_exit(84);
	mount_private_tmp(dir, req->file_size);
	if (chdir(dir) != 0)
		_exit(85);
	base = mapped_bytes();
	limit(RLIMIT_CORE, 0, 0);
	if (req->memory)
		limit(RLIMIT_AS, base + req->memory, base + req->memory);
	if (req->cpu_seconds)
		limit(RLIMIT_CPU, req->cpu_seconds, req->cpu_seconds + 1);
	limit(RLIMIT_FSIZE, req->file_size, req->file_size);
	limit(RLIMIT_NOFILE, req->max_files, req->max_files);
	limit(RLIMIT_NPROC, req->max_threads, req->max_threads);
	limit(RLIMIT_MEMLOCK, 0, 0);
	limit(RLIMIT_MSGQUEUE, 0, 0);
	drop_capabilities();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		_exit(86);
	apply_landlock(dir, pkgdir);
	apply_seccomp();
}

/* Run the child's Python main loop; never returns. */
static void
run_child(const char *dir)
{
	PyObject   *mod = PyImport_ImportModule("oml_store._sandbox");
	PyObject   *res = mod ? PyObject_CallMethod(mod, "child_main", "is",
											   CTL_FD, dir) : NULL;

	if (res == NULL)
		PyErr_Print();
	_exit(res ? 0 : 1);
}

/* Clone a child for a spawn request and report its pidfd. */
static void
spawn(const SpawnRequest *req, int call_fd, const char *pkgdir)
{
	int			slot = -1;
	int			pidfd = -1;
	pid_t		pid;

	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid == 0)
		{
			slot = i;
			break;
		}
	if (slot < 0)
	{
		int32_t		out[2] = {(int32_t) req->id, -1};

		close(call_fd);
		send_frame(CTL_FD, 'X', out, sizeof(out), -1);
		return;
	}
	snprintf(children[slot].dir, sizeof(children[slot].dir), "%s/c%u",
			 tmp_root, req->id);
	rm_tree(children[slot].dir);
	if (mkdir(children[slot].dir, 0700) != 0)
	{
		int32_t		out[2] = {(int32_t) req->id, -1};

		close(call_fd);
		send_frame(CTL_FD, 'X', out, sizeof(out), -1);
		return;
	}
	PyOS_BeforeFork();
	pid = syscall(SYS_clone, CLONE_NEWPID | CLONE_PIDFD | SIGCHLD, NULL,
				  &pidfd, NULL, 0);
	if (pid == 0)
	{
		PyOS_AfterFork_Child();
		lock_down(call_fd, children[slot].dir, pkgdir, req);
		run_child(children[slot].dir);
	}
	PyOS_AfterFork_Parent();
	close(call_fd);
	if (pid < 0)
	{
		int32_t		out[2] = {(int32_t) req->id, -1};

		rm_tree(children[slot].dir);
		send_frame(CTL_FD, 'X', out, sizeof(out), -1);
		return;
	}
	children[slot].pid = pid;
	children[slot].id = req->id;
	send_frame(CTL_FD, 'P', &req->id, sizeof(req->id), pidfd);
	close(pidfd);
}

/* Reap ended children: remove their directories and report them. */
static void
reap(void)
{
	int			status;
	pid_t		pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
	{
		for (int i = 0; i < MAX_CHILDREN; i++)
		{
			if (children[i].pid != pid)
				continue;
			{
				int32_t		out[2] = {(int32_t) children[i].id, status};

				rm_tree(children[i].dir);
				children[i].pid = 0;
				send_frame(CTL_FD, 'X', out, sizeof(out), -1);
			}
			break;
		}
	}
}

/* Read one control frame from the backend; 0 at EOF or on a bad frame. */
static int
read_request(SpawnRequest *req, int *fd)
{
	char		buf[5 + sizeof(SpawnRequest)];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {0};
	union
	{
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	}			cm;
	struct cmsghdr *c;
	ssize_t		n;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	*fd = -1;
	n = recvmsg(CTL_FD, &msg, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t) sizeof(buf) || buf[4] != 'S' || *fd < 0)
		return 0;
	memcpy(req, buf + 5, sizeof(SpawnRequest));
	return 1;
}

/* Initialise Python and pre-import what scripts use. */
static void
init_python(const char *pkgdir)
{
	PyConfig	config;
	PyObject   *mod;
	PyObject   *res;

	PyConfig_InitPythonConfig(&config);
	config.use_environment = 0;
	config.user_site_directory = 0;
	config.install_signal_handlers = 1;
	config.parse_argv = 0;
	config.buffered_stdio = 0;
	PyConfig_SetBytesString(&config, &config.program_name, "/usr/bin/python3");
	if (PyStatus_Exception(Py_InitializeFromConfig(&config)))
	{
		errno = ENOEXEC;
		fail("Python initialisation");
	}
	PyConfig_Clear(&config);
	mod = PySys_GetObject("path");
	res = PyUnicode_FromString(pkgdir);
	if (mod == NULL || res == NULL || PyList_Insert(mod, 0, res) < 0)
		fail("Python sys.path");
	Py_DECREF(res);
	mod = PyImport_ImportModule("oml_store._sandbox");
	res = mod ? PyObject_CallMethod(mod, "zygote_prepare", NULL) : NULL;
	if (res == NULL)
	{
		PyErr_Print();
		errno = ENOENT;
		fail("Python pre-import of oml_store._sandbox");
	}
	Py_DECREF(res);
	Py_DECREF(mod);
}

/*
 * oml_sandbox PKGDIR: PKGDIR is the directory holding the oml_store
 * package.  fd 3 is the control socket to the backend.
 */
int
main(int argc, char **argv)
{
	sigset_t	mask;
	int			sfd;
	const char *pkgdir;
	struct stat st;

	if (argc != 2 || fstat(CTL_FD, &st) != 0 || !S_ISSOCK(st.st_mode))
	{
		fprintf(stderr, "oml_sandbox is started by the oml_store extension\n");
		return 2;
	}
	pkgdir = argv[1];
	umask(077);
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/oml_sandbox.XXXXXX");
	if (mkdtemp(tmp_root) == NULL)
	{
		tmp_root[0] = '\0';
		fail("private temporary directory (mkdtemp)");
	}
	check_features();
	enter_namespaces();
	setenv("OML_SANDBOX_ROOT", tmp_root, 1);
	init_python(pkgdir);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);	/* the backend died (PR_SET_PDEATHSIG) */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		fail("signalfd");
	{
		int32_t		abi = landlock_abi;

		send_frame(CTL_FD, 'R', &abi, sizeof(abi), -1);
	}

	for (;;)
	{
		struct pollfd pfd[2] = {{CTL_FD, POLLIN, 0}, {sfd, POLLIN, 0}};

		if (poll(pfd, 2, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
		{
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				break;
			if (si.ssi_signo == SIGHUP)
				break;
			reap();
		}
		if (pfd[0].revents)
		{
			SpawnRequest req;
			int			fd;

			if (!read_request(&req, &fd))
				break;
			spawn(&req, fd, pkgdir);
		}
	}
	/* The backend went away: end every child, clean up. */
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid)
			kill(children[i].pid, SIGKILL);
	while (wait(NULL) > 0)
		;
	rm_tree(tmp_root);
	return 0;
}
