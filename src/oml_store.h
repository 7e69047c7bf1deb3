/*-------------------------------------------------------------------------
 *
 * oml_store.h
 *	  Declarations shared by the files of the oml_store extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OML_STORE_H
#define OML_STORE_H

#include "fmgr.h"
#include "utils/acl.h"
#include "utils/array.h"

/* Longest datastore, object or script name, in characters (as Oracle). */
#define OML_NAME_MAXLEN 128

/* locktag_field4 of our name locks; advisory locks use 1 and 2. */
#define OML_LOCK_CLASS 0x4F4D

/* State saved while running SPI as the extension owner (catalog.c). */
typedef struct OmlContext
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		switched;
	MemoryContext caller_cxt;	/* current before SPI_connect */
} OmlContext;

/* A script found for running (script_cache.c). */
typedef struct OmlScript
{
	int64		id;
	int32		version;		/* registry version found (1, 2, ...): the
								 * current one, or the one the reference
								 * named (registry.c) */
	char	   *alias;			/* the alias the reference named, or NULL */
	Oid			owner;			/* the script's owner (creator if global) */
	bool		is_global;
	bool		readable;		/* may the caller read its source (not
								 * just execute it)? */
	uint64		serial;			/* same serial, same lookup result */
	char	   *name;			/* the reference as given, e.g. "score@prod" */
	char	   *source;			/* NULL if the caller knew this serial */
	bool		sandbox;		/* created to run in the sandbox */
} OmlScript;

/* catalog.c */
extern Oid	oml_catalog_owner(void);
extern void oml_enter(OmlContext *ctx, bool as_owner);
extern void oml_leave(OmlContext *ctx);
extern int	oml_spi(const char *sql, bool read_only, int nargs, Oid *argtypes,
					Datum *values, const char *nulls, int expected);
extern Datum oml_spi_value(int row, int col, bool *isnull);
extern void oml_spi_to_tuplestore(FunctionCallInfo fcinfo);
extern void oml_list_as_caller(FunctionCallInfo fcinfo, const char *sql,
							   const char *name);
extern char *oml_check_name(const char *what, FunctionCallInfo fcinfo, int argno);
extern char *oml_check_name_to_drop(const char *what, FunctionCallInfo fcinfo, int argno);
extern int	oml_check_choice(const char *what, FunctionCallInfo fcinfo,
							 int argno, const char *const *choices);
extern char *oml_check_pattern(FunctionCallInfo fcinfo, int argno);
extern bool oml_check_bool(const char *what, FunctionCallInfo fcinfo, int argno);
extern char *oml_arg_text(FunctionCallInfo fcinfo, int argno);
extern Oid	oml_resolve_owner(FunctionCallInfo fcinfo, int argno);
extern void oml_lock_name(int kind, Oid owner, const char *name);

/* Kinds of named things locked by oml_lock_name. */
#define OML_LOCK_DATASTORE 0
#define OML_LOCK_SCRIPT 1

/* script_cache.c */
#define OML_GLOBAL_OWNER "PYQSYS"	/* the owner the views show for global
									 * scripts */
extern bool oml_owner_is_global(const char *owner_name);
extern void oml_script_find(const char *name, const char *owner_name,
							OmlScript *scr);
extern void oml_script_find_known(const char *name, const char *owner_name,
								  uint64 known_serial, bool for_run,
								  OmlScript *scr);

/* acl.c */
extern bool oml_role_can_read(Oid roleid, Oid owner, Acl *acl);
extern bool oml_role_is_trusted(Oid roleid);
extern bool oml_object_trusted(bool stored, Oid writer);
extern char *oml_role_name(Oid roleid);

/* datastore.c */
extern int64 oml_ds_find_readable(Oid caller, Oid owner, const char *name);
extern int64 oml_ds_find_loadable(Oid caller, Oid owner, const char *name);
extern ArrayType *oml_check_name_array(FunctionCallInfo fcinfo, int argno);
extern void oml_ds_require_objects(int64 ds_id, ArrayType *objs,
								   const char *ds_name);

/*
 * Receives the objects that oml_ds_read_objects reads (dsread.c): object
 * is called once per object and pulls its bytes, in order, with
 * oml_ds_next_chunk (what it leaves unread is read and checked after it
 * returns).  It may raise an ERROR; nothing is kept from an interrupted
 * read.
 */
typedef struct OmlChunkStream OmlChunkStream;
typedef struct OmlObjectReader
{
	void		(*object) (void *arg, const char *name, int64 size,
						   const char *compression, OmlChunkStream *stream);
	void	   *arg;
} OmlObjectReader;

/* dsread.c */
extern void oml_ds_read_objects(const char *name, Oid owner, ArrayType *objs,
								const OmlObjectReader *reader);
extern bool oml_ds_next_chunk(OmlChunkStream *stream, const char **data,
							  Size *len);
extern void oml_ds_read_readable(const char *name, Oid owner, ArrayType *objs,
								 const OmlObjectReader *reader);

/* registry.c: script versions and aliases, usage grants (issue 11) */
extern void oml_registry_init(void);
extern bool oml_registry_available(void);
extern Oid	oml_registry_run_begin(Oid owner);
extern void oml_registry_run_end(Oid prev);
extern bool oml_registry_load_begin(bool on);
extern bool oml_ds_usage_allowed(Oid caller, Oid ds_owner, Acl *acl);
extern Oid	oml_registry_running_owner(void);
extern void oml_script_check_new_name(const char *name);
extern bool oml_script_ref_split(const char *ref, char **base, char **tail);
extern void oml_script_resolve_ref(int64 script_id, const char *tail,
								   const char *ref_name, const char *base,
								   MemoryContext cxt, int32 *version,
								   char **source, char *alias_out);
extern char *oml_check_alias(FunctionCallInfo fcinfo, int argno);
extern char *oml_alias_arg(FunctionCallInfo fcinfo, int argno);
extern int32 oml_version_arg(FunctionCallInfo fcinfo, int argno);

/* The tables of one kind of versioned object (scripts, datastores). */
typedef struct OmlRegistryKind
{
	const char *what;			/* "script", "datastore" (messages) */
	const char *fn_prefix;		/* SQL functions oml.<fn_prefix>_alias_set */
	const char *key;			/* id column of the version and alias tables */
	const char *version_table;
	const char *alias_table;
	const char *view;			/* oml.<view>_versions */
	const char *drop_hint;		/* dropping the current version */
} OmlRegistryKind;
extern const OmlRegistryKind oml_registry_scripts;
extern void oml_registry_alias_set(const OmlRegistryKind *k, int64 id,
								   const char *name, const char *alias,
								   int32 version, int32 current, Oid set_by);
extern void oml_registry_alias_drop(const OmlRegistryKind *k, int64 id,
									const char *name, const char *alias,
									bool silent);
extern void oml_registry_version_drop(const OmlRegistryKind *k, int64 id,
									  const char *name, int32 version,
									  int32 current);
extern int32 oml_script_add_version(int64 script_id, bool is_new, Oid creator,
									Datum source, Datum description,
									bool description_null);

/* dsversion.c: versions and aliases of datastores (issue 11) */
extern void oml_dsversion_init(void);
extern void oml_ds_version_request(bool set, int32 version, const char *alias);
extern int32 oml_ds_version_resolve(int64 ds_id, const char *name);
extern void oml_ds_archive_current(int64 ds_id);

/* pyruntime.c (without Python's headers) */
extern void oml_runtime_define_gucs(void);

/* Async jobs (jobs.c, jobworker.c; the shared memory in jobs.h) */
typedef struct OmlJobRequest
{
	const char *func;			/* pyqEval, pyqTableEval, ... */
	const char *inp_nam;
	const char *par_lst;
	const char *out_fmt;
	int			row_num;		/* 0: none */
	const char *grp_col;
	const char *ord_col;
	int			times_num;		/* 0: none */
	const char *scr_name;
	const char *scr_owner;
} OmlJobRequest;
typedef bool (*OmlStoredNext) (void *arg, char **label, bytea **data);
extern bool oml_in_job_worker;
extern bool oml_job_top_call;
extern void oml_jobs_init(void);
extern bool oml_json_flag(const char *par_lst, const char *key);
extern bool oml_job_should_submit(const char *par_lst);
extern Datum oml_job_submit(FunctionCallInfo fcinfo, const OmlJobRequest *req);
extern void oml_job_store_result(int64 job_id, int seq, const char *name,
								 bytea *data);
extern void oml_pyq_emit_stored(FunctionCallInfo fcinfo, int fmt_argno,
								bool graphics, OmlStoredNext next, void *arg);
/* sandbox.c: sandboxed scripts (see the README, Sandbox) */
typedef struct OmlSandbox OmlSandbox;
extern bool oml_sandbox_all;
extern int	oml_sandbox_depth;
extern void oml_sandbox_init(void);
extern void oml_sandbox_close(OmlSandbox *sb);
extern void oml_sandbox_note_load(const char *ds_name, bool untrusted,
								  bool by_usage);
extern bool oml_sandbox_may_create(Oid roleid);
extern void oml_sandboxed_job_refused(const char *name) pg_attribute_noreturn();
/*
 * The record of one pyq* call (runrecord.c), feeding the statistics
 * (runstats.c) and the run log (runlog.c).
 */
#define OML_RUN_TEXT_MAX 1000	/* bytes kept of inp_nam, objects, error */

/* Statistics gathered in a backend before they go to shared memory. */
typedef struct OmlStatBatch
{
	bool		active;
	int64		script_id;
	int64		version;
	Oid			owner;
	bool		is_global;
	char		name[OML_NAME_MAXLEN * 4 + 1];
	int64		calls;
	int64		errors;
	int64		total_ticks;
	int64		rows_in;
	int64		rows_out;
	long		maxrss_kb;		/* ru_maxrss when the batch started */
	int64		started_ticks;	/* when the batch started */
} OmlStatBatch;

typedef struct OmlRun
{
	struct OmlRun *outer;		/* the run this one is nested in */
	const char *function;		/* pyqEval, pyqTableEval, ... */
	const char *inp_nam;
	const char *scr_name;		/* as given */
	const char *scr_owner;		/* as given (NULL: none) */
	bool		resolved;		/* the script was found */
	int64		script_id;
	int64		script_version; /* see oml_run_script_version */
	Oid			script_owner;
	bool		is_global;
	bool		readable;		/* the caller may read the script's source */
	bool		in_unreadable;	/* nested in a run of a script it may not */
	char	   *script_name;
	char	   *role_name;		/* with the log on: the calling role */
	char	   *session_role_name;	/* ... and the session's user */
	char	   *script_owner_name;	/* ... and the script's owner (PYQSYS) */
	bool		ended;			/* counted as a success already */
	uint64		rows_in;
	uint64		rows_out;
	int64		start_ticks;	/* see runrecord.c; 0: not timed */
	MemoryContext cxt;			/* the call's memory */
	void	   *objects;		/* StringInfo of datastore objects loaded */
	OmlStatBatch *batch;		/* the call site's batch, or NULL */
} OmlRun;

/* runrecord.c */
extern void oml_runs_init(void);
extern void oml_run_begin(OmlRun *run, const char *function);
extern void oml_run_set_script(OmlRun *run, const OmlScript *scr);
extern void oml_run_end(OmlRun *run);
extern void oml_run_failed(OmlRun *run);
extern void oml_run_note_object(Oid owner, const char *ds_name,
								const char *obj_name, int32 version);
extern double oml_run_ticks_to_ms(int64 t);

/* runstats.c */
extern bool oml_stat_track;
extern Size oml_stat_shmem_size(void);
extern void oml_stat_shmem_init(void);
extern void oml_stat_define_gucs(void);
extern void oml_stat_add(OmlStatBatch *batch, const OmlRun *run,
						 int64 ticks, bool failed);
extern void oml_stat_flush(OmlStatBatch *batch);

/* runlog.c */
#define OML_LOG_OFF 0
#define OML_LOG_ERRORS 1
#define OML_LOG_ALL 2
extern int	oml_log_runs;
extern Size oml_log_shmem_size(void);
extern void oml_log_shmem_init(void);
extern void oml_log_define_gucs(void);
extern void oml_log_enqueue(const OmlRun *run, double ms, ErrorData *edata);

#endif							/* OML_STORE_H */
