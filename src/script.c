/*-------------------------------------------------------------------------
 *
 * script.c
 *	  The script repository: pyqScriptCreate, pyqScriptDrop, listing and
 *	  loading scripts, and finding the script a pyq* call runs.
 *
 * Only trusted roles (superusers and members of oml_developer) create
 * scripts.  Private scripts belong to their creator and can be granted;
 * global scripts share one namespace and everyone may read and run them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_pyq_script_create);
PG_FUNCTION_INFO_V1(oml_pyq_script_drop);
PG_FUNCTION_INFO_V1(oml_script_dir);
PG_FUNCTION_INFO_V1(oml_script_load);
PG_FUNCTION_INFO_V1(oml_script_changed);

/* Largest script source we accept, in bytes. */
#define OML_SCRIPT_MAXLEN (16 * 1024 * 1024)

/*
 * Refuse untrusted callers: creating a script is writing code that the
 * server will run.
 */
static void
require_trusted(const char *action)
{
	if (!oml_role_is_trusted(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail("Scripts run as Python code inside the server."),
				 errhint("Ask a superuser for membership in role oml_developer.")));
}

/*
 * Compile source in the embedded interpreter and check it holds exactly
 * one function; report a problem with its line number.
 */
static void
check_source(const char *name, const char *source)
{
	PyObject   *res;

	oml_py_init();
	res = oml_py_runtime_call("check_script",
							  Py_BuildValue("(ss)", name, source));
	if (res != Py_None)
	{
		const char *msg = NULL;
		int			lineno = 0;
		const char *line = NULL;

		if (!PyArg_ParseTuple(res, "siz", &msg, &lineno, &line))
		{
			Py_DECREF(res);
			oml_py_raise(name);
		}
		msg = pstrdup(msg);
		line = line ? pstrdup(line) : NULL;
		Py_DECREF(res);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("invalid script \"%s\": %s at line %d", name, msg, lineno),
				 line ? errdetail("Line %d: %s", lineno, line) : 0,
				 errhint("A script is the source of one Python function, e.g. \"def f(x):\\n    return x\".")));
	}
	Py_DECREF(res);
}

/*
 * SQL oml.pyqScriptCreate(v_name, v_script, v_global, v_overwrite,
 * v_description).
 */
Datum
oml_pyq_script_create(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("script", fcinfo, 0);
	char	   *source;
	bool		is_global = oml_check_bool("v_global", fcinfo, 2);
	bool		overwrite = oml_check_bool("v_overwrite", fcinfo, 3);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[5] = {OIDOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	require_trusted("create scripts");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("script source must not be null")));
	source = oml_arg_text(fcinfo, 1);
	if (strlen(source) > OML_SCRIPT_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("script source is too long"),
				 errdetail("Scripts are at most %d bytes.", OML_SCRIPT_MAXLEN)));
	check_source(name, source);

	oml_lock_name(OML_LOCK_SCRIPT, is_global ? InvalidOid : caller, name);
	oml_enter(&ctx, true);
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(is_global);
	values[3] = CStringGetTextDatum(source);
	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	else
		values[4] = PG_GETARG_DATUM(4);

	if (oml_spi(is_global ?
				"SELECT id, owner FROM oml.script WHERE name = $2 AND is_global AND $3 FOR UPDATE" :
				"SELECT id, owner FROM oml.script WHERE owner = $1 AND name = $2 AND NOT is_global AND NOT $3 FOR UPDATE",
				false, 3, argtypes, values, nulls, -1) > 0)
	{
		Oid			owner = DatumGetObjectId(oml_spi_value(0, 1, &isnull));
		Oid			uptypes[5] = {INT8OID, TEXTOID, BOOLOID, TEXTOID, TEXTOID};

		if (!overwrite)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s script \"%s\" already exists",
							is_global ? "global" : "private", name),
					 errhint("Pass v_overwrite => true to replace it.")));
		if (owner != caller && !superuser_arg(caller))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to replace global script \"%s\"", name),
					 errdetail("Only its creator or a superuser can replace it.")));
		values[0] = oml_spi_value(0, 0, &isnull);
		oml_spi("UPDATE oml.script SET source = $4, description = $5,"
				" created = now() WHERE id = $1",
				false, 5, uptypes, values, nulls, 1);
	}
	else if (oml_spi("INSERT INTO oml.script (id, owner, name, is_global, source, description)"
					 " VALUES (nextval('oml.script_id_seq'), $1, $2, $3, $4, $5)"
					 " ON CONFLICT DO NOTHING",
					 false, 5, argtypes, values, nulls, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update"),
				 errdetail("Another session created script \"%s\" after this transaction's snapshot was taken.",
						   name)));
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * SQL oml.pyqScriptDrop(v_name, v_global, v_silent).
 */
Datum
oml_pyq_script_drop(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("script", fcinfo, 0);
	bool		is_global = oml_check_bool("v_global", fcinfo, 1);
	bool		silent = oml_check_bool("v_silent", fcinfo, 2);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[3] = {OIDOID, TEXTOID, BOOLOID};
	Datum		values[3];
	bool		isnull;

	oml_lock_name(OML_LOCK_SCRIPT, is_global ? InvalidOid : caller, name);
	oml_enter(&ctx, true);
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(is_global);
	if (oml_spi(is_global ?
				"SELECT id, owner FROM oml.script WHERE name = $2 AND is_global AND $3 FOR UPDATE" :
				"SELECT id, owner FROM oml.script WHERE owner = $1 AND name = $2 AND NOT is_global AND NOT $3 FOR UPDATE",
				false, 3, argtypes, values, NULL, -1) == 0)
	{
		oml_leave(&ctx);
		if (silent)
			PG_RETURN_VOID();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s script \"%s\" does not exist",
						is_global ? "global" : "private", name),
				 is_global ? 0 : errhint("Pass v_global => true to drop a global script.")));
	}
	if (DatumGetObjectId(oml_spi_value(0, 1, &isnull)) != caller &&
		!superuser_arg(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to drop global script \"%s\"", name),
				 errdetail("Only its creator or a superuser can drop it.")));
	{
		Oid			idtype[1] = {INT8OID};
		Datum		idval[1];

		idval[0] = oml_spi_value(0, 0, &isnull);
		oml_spi("DELETE FROM oml.script WHERE id = $1", false, 1, idtype, idval,
				NULL, 1);
	}
	oml_leave(&ctx);
	PG_RETURN_VOID();
}

/*
 * The script cache: what lookups of earlier statements of this backend
 * found, so that a pyq* call need not query oml.script.
 *
 * It gives the same answer as the lookup it saves, by construction:
 *
 * - A lookup reads everything it needs (the source detoasted, the acl
 *   copied) into the caller's memory first.  Only then is an entry
 *   installed, in one allocation and one struct copy; nothing between
 *   "installed" and "used" can process invalidations.  A hit copies the
 *   entry out before it checks readability (which may access catalogs and
 *   so process invalidations).  The invalidation callback only bumps a
 *   generation counter; it never touches or frees an entry.
 *
 * - Every change to oml.script (rows, acl, truncate) fires a statement
 *   trigger that sends a relcache invalidation of oml.script to every
 *   backend; this backend processes it at the next command (its own
 *   changes), at the latest when its next transaction starts (changes that
 *   others committed), and before every lookup.  A sinval reset counts
 *   as one too.
 *
 * - An entry is "current" only when the snapshot the lookup ran under saw
 *   every committed change: it sees the same transactions as committed as
 *   a snapshot taken after the generation was read (same xmin, xmax and
 *   running transactions, same command id), and no invalidation came in
 *   during the lookup.  A current entry is valid in any transaction until
 *   the generation changes.
 *
 * - Any other lookup (e.g. under an old REPEATABLE READ snapshot, or when
 *   another session committed something since the statement began) gives
 *   an entry valid only in the same transaction, only while that
 *   transaction has written nothing, and only under a snapshot that sees
 *   the same transactions as committed as the lookup's did; otherwise
 *   nothing is kept.
 *
 * Readability is checked on every use: against the acl the entry holds
 * (grants are stored in oml.script, so a grant or revoke is an oml.script
 * change) and role membership as PostgreSQL knows it now.
 */
#define SCRIPT_CACHE_SIZE 16
typedef struct ScriptCacheEntry
{
	bool		used;			/* this slot holds an entry */
	/* the lookup: caller, owner meant (the caller when not named), name */
	Oid			caller;
	Oid			owner_key;
	bool		explicit_owner;
	char	   *name;
	/* what it found */
	uint64		serial;			/* unique to this lookup's result */
	int64		id;
	int64		version;
	Oid			owner;
	bool		is_global;
	Acl		   *acl;			/* NULL for none */
	char	   *source;
	/* when it is valid */
	bool		current;		/* valid while generation is unchanged */
	uint64		generation;
	LocalTransactionId lxid;	/* else: in this transaction, under ... */
	SnapshotData snap;			/* ... snapshots that see what this one saw */
	void	   *mem;			/* the one allocation holding the strings */
} ScriptCacheEntry;

static ScriptCacheEntry script_cache[SCRIPT_CACHE_SIZE];
static int	script_cache_next = 0;
static bool script_callback_registered = false;
static MemoryContext script_cache_cxt = NULL;
static Oid	script_cache_relid = InvalidOid;	/* oml.script */
static uint64 script_cache_generation = 0;
static uint64 script_lookup_serial = 0;

/*
 * Relcache callback: oml.script changed (or every relation may have); the
 * entries filled before are no longer current.  Touches nothing else, so
 * it is safe wherever invalidations are processed.
 */
static void
script_cache_inval(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == script_cache_relid)
		script_cache_generation++;
}

/*
 * Statement trigger on oml.script: any change, also by direct DML of a
 * superuser, invalidates the cached scripts of every backend.
 */
Datum
oml_script_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("oml.script_changed() must be fired as a trigger")));
	CacheInvalidateRelcache(((TriggerData *) fcinfo->context)->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * Do two MVCC snapshots see exactly the same transactions as committed?
 * (Same bounds and the same running transactions in the same order; the
 * command id, which decides about the own transaction's changes, is not
 * compared.)
 */
static bool
snapshots_see_same(Snapshot a, Snapshot b)
{
	return a->xmin == b->xmin && a->xmax == b->xmax &&
		a->xcnt == b->xcnt && a->subxcnt == b->subxcnt &&
		a->suboverflowed == b->suboverflowed &&
		a->takenDuringRecovery == b->takenDuringRecovery &&
		memcmp(a->xip, b->xip, sizeof(TransactionId) * a->xcnt) == 0 &&
		memcmp(a->subxip, b->subxip, sizeof(TransactionId) * a->subxcnt) == 0;
}

/*
 * The active snapshot if it is an MVCC one, else NULL.
 */
static Snapshot
active_mvcc_snapshot(void)
{
	Snapshot	snap;

	if (!ActiveSnapshotSet())
		return NULL;
	snap = GetActiveSnapshot();
	return snap->snapshot_type == SNAPSHOT_MVCC ? snap : NULL;
}

/*
 * May the entry be used now?
 */
static bool
script_entry_valid(const ScriptCacheEntry *e)
{
	Snapshot	snap;

	if (!e->used)
		return false;
	if (e->current)
		return e->generation == script_cache_generation;
	if (e->lxid != MyProc->lxid ||
		TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	snap = active_mvcc_snapshot();
	return snap != NULL && snapshots_see_same(snap, (Snapshot) &e->snap);
}

/*
 * Does the entry answer this lookup?
 */
static bool
script_entry_matches(const ScriptCacheEntry *e, Oid caller, Oid owner_key,
					 bool explicit_owner, const char *name)
{
	return e->used && e->caller == caller && e->owner_key == owner_key &&
		e->explicit_owner == explicit_owner && strcmp(e->name, name) == 0;
}

/*
 * Install a complete entry whose strings are in local memory: copy them
 * into one allocation of the cache, then the struct into a slot (the one
 * of the same lookup, else the oldest).  Nothing here processes
 * invalidations; an out-of-memory error leaves the cache unchanged.
 */
static void
script_cache_install(const ScriptCacheEntry *fresh)
{
	ScriptCacheEntry *slot = NULL;
	Size		name_len = strlen(fresh->name) + 1;
	Size		source_len = strlen(fresh->source) + 1;
	Size		acl_len = fresh->acl ? VARSIZE(fresh->acl) : 0;
	Size		xip_len = fresh->current ? 0 :
		sizeof(TransactionId) * (fresh->snap.xcnt + fresh->snap.subxcnt);
	char	   *mem;
	void	   *old_mem;

	for (int i = 0; i < SCRIPT_CACHE_SIZE && slot == NULL; i++)
		if (script_entry_matches(&script_cache[i], fresh->caller,
								 fresh->owner_key, fresh->explicit_owner,
								 fresh->name))
			slot = &script_cache[i];
	if (slot == NULL)
	{
		slot = &script_cache[script_cache_next];
		script_cache_next = (script_cache_next + 1) % SCRIPT_CACHE_SIZE;
	}

	/* acl and transaction ids first: they must be aligned */
	mem = MemoryContextAlloc(script_cache_cxt,
							 MAXALIGN(acl_len) + MAXALIGN(xip_len) +
							 name_len + source_len);
	old_mem = slot->used ? slot->mem : NULL;
	*slot = *fresh;
	slot->mem = mem;
	slot->acl = NULL;
	if (fresh->acl)
	{
		memcpy(mem, fresh->acl, acl_len);
		slot->acl = (Acl *) mem;
	}
	if (!fresh->current)
	{
		slot->snap.xip = (TransactionId *) (mem + MAXALIGN(acl_len));
		memcpy(slot->snap.xip, fresh->snap.xip,
			   sizeof(TransactionId) * fresh->snap.xcnt);
		slot->snap.subxip = slot->snap.xip + fresh->snap.xcnt;
		memcpy(slot->snap.subxip, fresh->snap.subxip,
			   sizeof(TransactionId) * fresh->snap.subxcnt);
	}
	slot->name = mem + MAXALIGN(acl_len) + MAXALIGN(xip_len);
	memcpy(slot->name, fresh->name, name_len);
	slot->source = slot->name + name_len;
	memcpy(slot->source, fresh->source, source_len);
	slot->used = true;
	if (old_mem)
		pfree(old_mem);
}

/*
 * Look the script up in oml.script under the active snapshot, copying
 * what was found into *found (caller's memory), and install it in the
 * cache as far as it can be trusted to stay true (see above).
 */
static void
script_lookup(const char *name, const char *owner_name, Oid caller,
			  Oid owner_key, ScriptCacheEntry *found)
{
	OmlContext	ctx;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		acl;
	Oid			relid;
	uint64		generation;
	Snapshot	snap;
	bool		current = false;
	MemoryContext old;

	/* Invalidations of oml.script count from here on. */
	relid = get_relname_relid("script", get_namespace_oid("oml", false));
	if (relid != script_cache_relid)
	{
		script_cache_relid = relid;
		script_cache_generation++;
	}
	generation = script_cache_generation;
	/* The query runs under the active snapshot: did it see everything? */
	snap = active_mvcc_snapshot();
	if (snap != NULL && !IsInParallelMode())
	{
		Snapshot	latest = GetLatestSnapshot();

		current = snapshots_see_same(snap, latest) &&
			snap->curcid == latest->curcid;
	}

	oml_enter(&ctx, true);
	values[0] = ObjectIdGetDatum(owner_key);
	values[1] = CStringGetTextDatum(name);
	if (oml_spi(owner_name ?
				"SELECT id, owner, is_global, acl, source, xmin::text::bigint"
				" FROM oml.script WHERE name = $2 AND owner = $1"
				" ORDER BY is_global LIMIT 1" :
				"SELECT id, owner, is_global, acl, source, xmin::text::bigint"
				" FROM oml.script WHERE name = $2 AND (owner = $1 OR is_global)"
				" ORDER BY is_global LIMIT 1",
				true, 2, argtypes, values, NULL, -1) == 0)
	{
		if (owner_name)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("script \"%s\" of role \"%s\" does not exist",
							name, owner_name)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("script \"%s\" does not exist", name),
				 errhint("Create it with oml.pyqScriptCreate, or name its owner in scr_owner.")));
	}

	/*
	 * Everything into the caller's memory: detoasting the source or the acl
	 * may process invalidations, which touch nothing of ours but the
	 * generation.
	 */
	old = MemoryContextSwitchTo(ctx.caller_cxt);
	memset(found, 0, sizeof(ScriptCacheEntry));
	found->caller = caller;
	found->owner_key = owner_key;
	found->explicit_owner = owner_name != NULL;
	found->name = pstrdup(name);
	found->serial = ++script_lookup_serial;
	found->id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	found->owner = DatumGetObjectId(oml_spi_value(0, 1, &isnull));
	found->is_global = DatumGetBool(oml_spi_value(0, 2, &isnull));
	acl = oml_spi_value(0, 3, &isnull);
	found->acl = isnull ? NULL : DatumGetAclPCopy(acl);
	found->source = TextDatumGetCString(oml_spi_value(0, 4, &isnull));
	found->version = DatumGetInt64(oml_spi_value(0, 5, &isnull));
	MemoryContextSwitchTo(old);
	oml_leave(&ctx);

	/* How long may it be kept? */
	if (current && generation == script_cache_generation)
	{
		found->current = true;
		found->generation = generation;
	}
	else if (snap != NULL && !TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		found->lxid = MyProc->lxid;
		found->snap = *snap;	/* xip arrays copied by the install */
	}
	else
		return;
	script_cache_install(found);
}

/*
 * Check that the caller may read a script found by oml_script_find.
 */
static void
check_script_readable(const char *name, Oid caller, const ScriptCacheEntry *e)
{
	if (!e->is_global && !oml_role_can_read(caller, e->owner, e->acl))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for script \"%s\" of role \"%s\"",
						name, GetUserNameFromId(e->owner, false)),
				 errhint("Its owner can share it with oml.pyqGrant(name, 'pyqscript', role).")));
}

/*
 * Find the script a caller means by name and owner (NULL owner: own private
 * script first, then the global one), check it is readable, and fill in
 * what running it needs (allocated in the current memory context).
 */
void
oml_script_find(const char *name, const char *owner_name, OmlScript *scr)
{
	oml_script_find_known(name, owner_name, 0, scr);
}

/*
 * oml_script_find for a caller that has the source of the result with
 * serial known_serial already (0: none): when the same result is found
 * again, scr->source is NULL instead of a copy.
 */
void
oml_script_find_known(const char *name, const char *owner_name,
					  uint64 known_serial, OmlScript *scr)
{
	Oid			caller = GetUserId();
	Oid			owner_key;
	ScriptCacheEntry found;
	bool		hit = false;

	if (!script_callback_registered)
	{
		script_cache_cxt = AllocSetContextCreate(TopMemoryContext,
												 "oml_store script cache",
												 ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(script_cache_inval, (Datum) 0);
		script_callback_registered = true;
	}

	/* Names are resolved now, as the lookup would. */
	owner_key = owner_name ? get_role_oid(owner_name, false) : caller;
	/* Changes committed by others that this snapshot may see. */
	AcceptInvalidationMessages();

	for (int i = 0; i < SCRIPT_CACHE_SIZE; i++)
	{
		ScriptCacheEntry *e = &script_cache[i];

		if (script_entry_matches(e, caller, owner_key, owner_name != NULL,
								 name) &&
			script_entry_valid(e))
		{
			/* Copy out before anything can process invalidations. */
			found = *e;
			found.source = e->serial == known_serial ? NULL :
				pstrdup(e->source);
			if (e->acl)
			{
				found.acl = palloc(VARSIZE(e->acl));
				memcpy(found.acl, e->acl, VARSIZE(e->acl));
			}
			hit = true;
			break;
		}
	}
	if (!hit)
		script_lookup(name, owner_name, caller, owner_key, &found);

	check_script_readable(name, caller, &found);
	scr->id = found.id;
	scr->version = found.version;
	scr->serial = found.serial;
	scr->name = pstrdup(name);
	scr->source = found.source;
}

/*
 * SQL oml.script_load(v_name, v_owner): a readable script's source.
 */
Datum
oml_script_load(PG_FUNCTION_ARGS)
{
	char	   *name = oml_check_name("script", fcinfo, 0);
	OmlScript	scr;

	if (!PG_ARGISNULL(1))
		(void) oml_resolve_owner(fcinfo, 1);	/* clear error for bad roles */
	oml_script_find(name, PG_ARGISNULL(1) ? NULL : oml_arg_text(fcinfo, 1), &scr);
	PG_RETURN_TEXT_P(cstring_to_text(scr.source));
}

/*
 * SQL oml.script_dir(v_name, regex_match, sctype): scripts as
 * oml.script.dir lists them, as the caller sees them.
 */
Datum
oml_script_dir(PG_FUNCTION_ARGS)
{
	static const char *const sctypes[] = {"user", "global", "all", "grant", NULL};
	static const char *const filters[] = {
		"s.owner = $1 AND NOT s.is_global",
		"s.is_global",
		"true",
		"s.owner = $1 AND NOT s.is_global",
	};
	bool		regex_match = oml_check_bool("regex_match", fcinfo, 1);
	int			kind = oml_check_choice("sctype", fcinfo, 2, sctypes);
	char	   *name = NULL;
	StringInfoData sql;

	if (!PG_ARGISNULL(0))
		name = regex_match ? oml_arg_text(fcinfo, 0) :
			oml_check_name("script", fcinfo, 0);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT * FROM (SELECT CASE WHEN s.is_global THEN 'PYQSYS'"
					 " ELSE pg_get_userbyid(s.owner)::text END AS owner,"
					 " s.name, s.source, s.description, s.created, %s AS grantee"
					 " FROM oml.script s%s WHERE %s AND ($2 IS NULL OR s.name %s $2)) q"
					 " ORDER BY %s",
					 kind == 3 ? "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END" : "NULL::text",
					 kind == 3 ? ", LATERAL aclexplode(s.acl) a" : "",
					 filters[kind],
					 regex_match ? "~" : "=",
					 kind == 3 ? "name COLLATE \"C\", grantee COLLATE \"C\"" :
					 kind == 2 ? "owner COLLATE \"C\", name COLLATE \"C\"" :
					 "name COLLATE \"C\"");

	oml_list_as_caller(fcinfo, sql.data, name);
	return (Datum) 0;
}
