/*-------------------------------------------------------------------------
 *
 * script_cache.c
 *	  Finding the script a pyq* call (or oml.script_load) means, through a
 *	  per-backend cache of lookups that answers as the lookup would, and
 *	  the trigger that tells every backend when oml.script changes.
 *
 *	  The owner PYQSYS (any case), which the views show for global
 *	  scripts, names the global script of a name, as in OML4Py; it means
 *	  that even when a role of that name exists.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_script_changed);

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
 *
 * SERIALIZABLE transactions do not use entries (they fill them): their
 * lookup must leave predicate locks on the row of the script they run.
 */
#define SCRIPT_CACHE_SIZE 16
typedef struct ScriptCacheEntry
{
	bool		used;			/* this slot holds an entry */
	/*
	 * the lookup: caller, owner meant (the caller when not named;
	 * InvalidOid with explicit_owner for PYQSYS, the global script), name
	 */
	Oid			caller;
	Oid			owner_key;
	bool		explicit_owner;
	char	   *name;
	/* what it found */
	uint64		serial;			/* unique to this lookup's result */
	int64		id;
	int32		version;		/* registry version found */
	char		alias[NAMEDATALEN]; /* alias the reference named, or "" */
	Oid			owner;
	bool		is_global;
	Acl		   *acl;			/* NULL for none */
	char	   *source;
	bool		sandbox;		/* runs in the sandbox (sandbox.c) */
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

static void check_script_readable(const char *name, Oid caller, bool for_run,
								  const ScriptCacheEntry *e);

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
	/* Also fired by oml.script_version and oml.script_alias (registry.c). */
	CacheInvalidateRelcacheByRelid(get_relname_relid("script",
													 get_namespace_oid("oml", false)));
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
			  Oid owner_key, bool for_run, ScriptCacheEntry *found)
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
	const char *lookup_name = name;
	char	   *tail = NULL;
	int			nfound;
	bool		registry;

	/* Invalidations of oml.script count from here on. */
	relid = get_relname_relid("script", get_namespace_oid("oml", false));
	if (relid != script_cache_relid)
	{
		script_cache_relid = relid;
		script_cache_generation++;
	}
	generation = script_cache_generation;
	/*
	 * The query runs under the active snapshot (which stays active until we
	 * return): does it see every transaction that had ended by now?
	 */
	snap = active_mvcc_snapshot();
	if (snap != NULL && !IsInParallelMode())
	{
		Snapshot	latest = GetLatestSnapshot();

		current = snapshots_see_same(snap, latest) &&
			snap->curcid == latest->curcid;
	}

	/* A schema from before 0.3.0 has no versions: everything is 1. */
	registry = oml_registry_available();
	oml_enter(&ctx, true);
	values[0] = ObjectIdGetDatum(owner_key);
	for (;;)
	{
		values[1] = CStringGetTextDatum(lookup_name);
		nfound = oml_spi(owner_name == NULL ?
						 (registry ?
						  "SELECT id, owner, is_global, acl, source, version, sandbox"
						  " FROM oml.script WHERE name = $2 AND (owner = $1 OR is_global)"
						  " ORDER BY is_global LIMIT 1" :
						  "SELECT id, owner, is_global, acl, source, 1, false"
						  " FROM oml.script WHERE name = $2 AND (owner = $1 OR is_global)"
						  " ORDER BY is_global LIMIT 1") :
						 OidIsValid(owner_key) ?
						 (registry ?
						  "SELECT id, owner, is_global, acl, source, version, sandbox"
						  " FROM oml.script WHERE name = $2 AND owner = $1"
						  " ORDER BY is_global LIMIT 1" :
						  "SELECT id, owner, is_global, acl, source, 1, false"
						  " FROM oml.script WHERE name = $2 AND owner = $1"
						  " ORDER BY is_global LIMIT 1") :
						 (registry ?
						  "SELECT id, owner, is_global, acl, source, version, sandbox"
						  " FROM oml.script WHERE name = $2 AND is_global LIMIT 1" :
						  "SELECT id, owner, is_global, acl, source, 1, false"
						  " FROM oml.script WHERE name = $2 AND is_global LIMIT 1"),
						 true, 2, argtypes, values, NULL, -1);

		/*
		 * Not found by its whole name: "a@b" is script a at version or
		 * alias b (registry.c).
		 */
		if (nfound > 0 || tail != NULL || !registry ||
			!oml_script_ref_split(name, (char **) &lookup_name, &tail) ||
			lookup_name[0] == '\0')
			break;
	}
	if (nfound == 0)
	{
		if (tail != NULL && lookup_name[0] != '\0')
			name = lookup_name; /* the script the reference names */
		if (owner_name && !OidIsValid(owner_key))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("global script \"%s\" does not exist", name),
					 errdetail("Owner %s means the global script of that name.",
							   owner_name)));
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
	found->version = DatumGetInt32(oml_spi_value(0, 5, &isnull));
	found->sandbox = DatumGetBool(oml_spi_value(0, 6, &isnull));
	MemoryContextSwitchTo(old);
	if (tail != NULL)
	{
		/* Whether the version or alias exists is the readers' business. */
		check_script_readable(lookup_name, caller, for_run, found);
		oml_script_resolve_ref(found->id, tail, name, lookup_name,
							   ctx.caller_cxt, &found->version,
							   &found->source, found->alias);
	}
	oml_leave(&ctx);

	/* How long may it be kept? */
	if (current && generation == script_cache_generation)
	{
		found->current = true;
		found->generation = generation;
	}
	else if (snap != NULL && !IsolationIsSerializable() &&
			 !TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		found->lxid = MyProc->lxid;
		found->snap = *snap;	/* xip arrays copied by the install */
	}
	else
		return;
	script_cache_install(found);
}

/*
 * Check that the caller may read a script found by oml_script_find (or,
 * for_run, run it: a read or an execute grant).
 */
static void
check_script_readable(const char *name, Oid caller, bool for_run,
					  const ScriptCacheEntry *e)
{
	if (e->is_global || oml_role_can_read(caller, e->owner, e->acl))
		return;
	if (for_run && e->acl != NULL &&
		aclmask(e->acl, caller, e->owner, ACL_EXECUTE, ACLMASK_ANY) != 0)
		return;
	if (!for_run && e->acl != NULL &&
		aclmask(e->acl, caller, e->owner, ACL_EXECUTE, ACLMASK_ANY) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the source of script \"%s\" of role \"%s\"",
						name, GetUserNameFromId(e->owner, false)),
				 errdetail("The script is granted for execution only."),
				 errhint("Run it with the pyq* functions.")));
	{
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for script \"%s\" of role \"%s\"",
						name, GetUserNameFromId(e->owner, false)),
				 errhint("Its owner can share it with oml.pyqGrant(name, 'pyqscript', role).")));
	}
}

/*
 * Does an owner name given for a script mean the global scripts?  PYQSYS,
 * as the views show their owner, in any case.
 */
bool
oml_owner_is_global(const char *owner_name)
{
	return owner_name != NULL &&
		pg_strcasecmp(owner_name, OML_GLOBAL_OWNER) == 0;
}

/*
 * Find the script a caller means by name and owner (NULL owner: own private
 * script first, then the global one; PYQSYS: the global one), check it is
 * readable, and fill in what running it needs (allocated in the current
 * memory context).
 */
void
oml_script_find(const char *name, const char *owner_name, OmlScript *scr)
{
	oml_script_find_known(name, owner_name, 0, false, scr);
}

/*
 * oml_script_find for a caller that has the source of the result with
 * serial known_serial already (0: none): when the same result is found
 * again, scr->source is NULL instead of a copy.  for_run: the caller is
 * to run the script, which an execute grant allows, not read it.
 */
void
oml_script_find_known(const char *name, const char *owner_name,
					  uint64 known_serial, bool for_run, OmlScript *scr)
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

	/* Changes committed by others that this snapshot may see. */
	AcceptInvalidationMessages();
	/* Names are resolved now, as the lookup would. */
	owner_key = oml_owner_is_global(owner_name) ? InvalidOid :
		owner_name ? get_role_oid(owner_name, false) : caller;

	/*
	 * A SERIALIZABLE transaction always reads oml.script, so that its
	 * predicate locks see the script it ran (as for any table it reads).
	 */
	for (int i = 0; i < SCRIPT_CACHE_SIZE && !IsolationIsSerializable(); i++)
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
		script_lookup(name, owner_name, caller, owner_key, for_run, &found);

	check_script_readable(name, caller, for_run, &found);
	scr->id = found.id;
	scr->version = found.version;
	scr->alias = found.alias[0] ? pstrdup(found.alias) : NULL;
	scr->owner = found.owner;
	scr->is_global = found.is_global;
	scr->readable = found.is_global ||
		oml_role_can_read(caller, found.owner, found.acl);
	scr->serial = found.serial;
	scr->owner = found.owner;
	scr->is_global = found.is_global;
	scr->name = pstrdup(name);
	scr->source = found.source;
	scr->sandbox = found.sandbox;
}
