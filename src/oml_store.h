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
	int64		version;		/* the row's xmin (same for two versions
								 * written by one transaction) */
	uint64		serial;			/* same serial, same lookup result */
	Oid			owner;
	bool		is_global;
	char	   *name;
	char	   *source;			/* NULL if the caller knew this serial */
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
								  uint64 known_serial, OmlScript *scr);

/* acl.c */
extern bool oml_role_can_read(Oid roleid, Oid owner, Acl *acl);
extern bool oml_role_is_trusted(Oid roleid);
extern bool oml_object_trusted(bool stored, Oid writer);
extern char *oml_role_name(Oid roleid);

/* datastore.c */
extern int64 oml_ds_find_readable(Oid caller, Oid owner, const char *name);
extern ArrayType *oml_check_name_array(FunctionCallInfo fcinfo, int argno);
extern void oml_ds_require_objects(int64 ds_id, ArrayType *objs,
								   const char *ds_name);

/*
 * Receives the objects that oml_ds_read_objects reads (dsread.c): begin once
 * per object, then its bytes in order, chunk by chunk.  Each may raise an
 * ERROR (e.g. out of memory); nothing is kept from an interrupted read.
 */
typedef struct OmlObjectReader
{
	void		(*begin) (void *arg, const char *name, int64 size,
						  const char *compression);
	void		(*chunk) (void *arg, const char *data, Size len);
	void	   *arg;
} OmlObjectReader;

/* dsread.c */
extern void oml_ds_read_objects(const char *name, Oid owner, ArrayType *objs,
								const OmlObjectReader *reader);

/* pyruntime.c (without Python's headers) */
extern void oml_runtime_define_gucs(void);

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
								const char *obj_name);
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
