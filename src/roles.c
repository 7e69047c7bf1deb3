/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Roles like native objects: DROP ROLE refuses a role that datastores,
 *	  objects or scripts still name; DROP OWNED and REASSIGN OWNED act on
 *	  them.
 *
 * Roles are shared by the cluster, our catalog tables are per database.
 * So that PostgreSQL's own DROP ROLE check sees our rows from any database,
 * every (column, role) pair in use is recorded in pg_shdepend as a
 * privilege-type dependency (SHARED_DEPENDENCY_ACL) of the role on that
 * column of the catalog table, shown as "privileges for column owner of
 * table oml.datastore".  Row triggers on the tables keep the entries, so
 * every write path (our functions, direct DML, pg_restore's COPY) does.
 * PostgreSQL's DROP OWNED merely revokes the role's real privileges on the
 * table for such an entry (a no-op) and REASSIGN OWNED ignores it, so
 * neither touches the table itself.
 *
 * Adding an entry takes a per-role lock in share mode until transaction
 * end; removing one (when the last row naming the role goes) takes it in
 * exclusive mode without waiting and checks again with the latest
 * snapshot, so an entry is never missing while a row names the role.  When
 * the lock is busy the entry stays: a stale entry only makes DROP ROLE
 * refuse, and the hook below (or oml.role_dependencies_sync()) clears it.
 * Adders never wait for one another (a role's open transaction must not
 * stall others' writes): two that add the same first entry at once leave
 * two copies, which are removed together.
 *
 * With the library loaded (shared_preload_libraries), a ProcessUtility
 * hook lists our dependents in DROP ROLE's error, and makes DROP OWNED drop
 * the role's datastores and scripts and revoke its grants, and REASSIGN
 * OWNED transfer them.  oml.drop_owned() and oml.reassign_owned() do the
 * same without it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "oml_store.h"
#include "roles.h"

PG_FUNCTION_INFO_V1(oml_role_refs_changed);
PG_FUNCTION_INFO_V1(oml_role_dependencies_sync);
PG_FUNCTION_INFO_V1(oml_drop_owned);
PG_FUNCTION_INFO_V1(oml_reassign_owned);

/* Lock kinds (locktag_field4 - OML_LOCK_CLASS); catalog.c uses 0 and 1. */
#define OML_LOCK_ROLE_DEPS 2
#define OML_LOCK_ROLE_DEPS_ADD 3

/* Most dependents DROP ROLE lists, as PostgreSQL's MAX_REPORTED_DEPS. */
#define OML_MAX_REPORTED 100

/*
 * A catalog column that names roles.
 */
typedef struct TrackedColumn
{
	const char *relname;
	const char *attname;
	bool		is_acl;
	const char *exists_sql;		/* $1 role: does a row still name it? */
	const char *roles_sql;		/* every role it names */
} TrackedColumn;

static const TrackedColumn tracked[] = {
	{"datastore", "owner", false,
		"SELECT FROM oml.datastore WHERE owner = $1 LIMIT 1",
	"SELECT DISTINCT owner::oid FROM oml.datastore"},
	{"datastore", "acl", true,
		"SELECT FROM oml.datastore d, aclexplode(d.acl) a"
		" WHERE a.grantee = $1 OR a.grantor = $1 LIMIT 1",
		"SELECT a.grantee FROM oml.datastore d, aclexplode(d.acl) a WHERE a.grantee <> 0"
	" UNION SELECT a.grantor FROM oml.datastore d, aclexplode(d.acl) a"},
	{"datastore_object", "writer", false,
		"SELECT FROM oml.datastore_object WHERE writer = $1 LIMIT 1",
	"SELECT DISTINCT writer::oid FROM oml.datastore_object"},
	{"script", "owner", false,
		"SELECT FROM oml.script WHERE owner = $1 LIMIT 1",
	"SELECT DISTINCT owner::oid FROM oml.script"},
	{"script", "acl", true,
		"SELECT FROM oml.script s, aclexplode(s.acl) a"
		" WHERE a.grantee = $1 OR a.grantor = $1 LIMIT 1",
		"SELECT a.grantee FROM oml.script s, aclexplode(s.acl) a WHERE a.grantee <> 0"
	" UNION SELECT a.grantor FROM oml.script s, aclexplode(s.acl) a"},
};

#define NTRACKED lengthof(tracked)

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* oml_store.role_commands: the hook acts on DROP ROLE / OWNED, REASSIGN */
static bool role_commands = true;

/*
 * The relation and column of a tracked column in this database.
 */
static void
tracked_address(const TrackedColumn *tc, Oid *relid, AttrNumber *attnum)
{
	*relid = get_relname_relid(tc->relname, get_namespace_oid("oml", false));
	if (!OidIsValid(*relid))
		elog(ERROR, "oml_store catalog table oml.%s is missing", tc->relname);
	*attnum = get_attnum(*relid, tc->attname);
	if (*attnum == InvalidAttrNumber)
		elog(ERROR, "column %s of oml.%s is missing", tc->attname, tc->relname);
}

/*
 * Take one of our per-role locks until transaction end; with nowait, only
 * if it is free (returns whether it was taken).
 */
static bool
lock_role(int kind, Oid role, LOCKMODE mode, bool nowait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, role, 0, OML_LOCK_CLASS + kind);
	return LockAcquire(&tag, mode, false, nowait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * The roles that have our entry on column attnum of relid, in pg_shdepend
 * as of now (not as of the transaction's snapshot).  Returns how many.
 */
static int
dep_roles(Oid relid, AttrNumber attnum, Oid role, Oid **roles)
{
	Relation	rel;
	ScanKeyData key[4];
	SysScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			cap = 8;

	*roles = palloc(sizeof(Oid) * cap);
	InvalidateCatalogSnapshot();
	rel = table_open(SharedDependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_shdepend_dbid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(MyDatabaseId));
	ScanKeyInit(&key[1], Anum_pg_shdepend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[2], Anum_pg_shdepend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[3], Anum_pg_shdepend_objsubid, BTEqualStrategyNumber,
				F_INT4EQ, Int32GetDatum((int32) attnum));
	scan = systable_beginscan(rel, SharedDependDependerIndexId, true,
							  NULL, 4, key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_shdepend dep = (Form_pg_shdepend) GETSTRUCT(tup);

		if (dep->refclassid != AuthIdRelationId ||
			dep->deptype != SHARED_DEPENDENCY_ACL ||
			(OidIsValid(role) && dep->refobjid != role))
			continue;
		if (n == cap)
		{
			cap *= 2;
			*roles = repalloc(*roles, sizeof(Oid) * cap);
		}
		(*roles)[n++] = dep->refobjid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * Does role have our entry on column attnum of relid?
 */
static bool
dep_exists(Oid relid, AttrNumber attnum, Oid role)
{
	Oid		   *roles;
	int			n = dep_roles(relid, attnum, role, &roles);

	pfree(roles);
	return n > 0;
}

/*
 * Record or forget role's entry on column attnum of relid.
 */
static void
dep_set(Oid relid, AttrNumber attnum, Oid role, bool add)
{
	Oid		   *one = palloc(sizeof(Oid));

	one[0] = role;
	/* updateAclDependencies pfrees the arrays */
	if (add)
	{
		updateAclDependencies(RelationRelationId, relid, attnum, InvalidOid,
							  0, palloc(sizeof(Oid)), 1, one);

		/*
		 * A DROP ROLE waiting for our lock on the role must not check with
		 * a catalog snapshot taken before we commit.
		 */
		CacheInvalidateCatalog(SharedDependRelationId);
	}
	else
		updateAclDependencies(RelationRelationId, relid, attnum, InvalidOid,
							  1, one, 0, palloc(sizeof(Oid)));
	/* Later rows of the same statement (COPY) must see it */
	CommandCounterIncrement();
}

/*
 * Make sure role has its entry for a row that now names it.
 */
static void
dep_add(const TrackedColumn *tc, Oid relid, AttrNumber attnum, Oid role)
{
	if (IsPinnedObject(AuthIdRelationId, role))
		return;
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role),
				 errdetail("A row of oml.%s names it in column %s.",
						   tc->relname, tc->attname)));
	(void) lock_role(OML_LOCK_ROLE_DEPS, role, ShareLock, false);
	if (dep_exists(relid, attnum, role))
		return;

	/*
	 * A transaction adding the role's first entry holds this lock until it
	 * ends, and any role can keep one open (a pyqGrant to the role is
	 * enough): never wait for it, add our own entry then.  A duplicate is
	 * harmless, removing an entry removes every copy.
	 */
	if (!lock_role(OML_LOCK_ROLE_DEPS_ADD, role, ExclusiveLock, true) ||
		!dep_exists(relid, attnum, role))
		dep_set(relid, attnum, role, true);
}

/*
 * Does a row still name role in this column, as of the latest snapshot
 * (what others committed plus this transaction's own changes)?  Runs
 * inside oml_enter(as_owner).
 */
static bool
still_named(const TrackedColumn *tc, Oid role)
{
	static SPIPlanPtr plans[NTRACKED];
	int			i = tc - tracked;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			rc;

	if (plans[i] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(tc->exists_sql, 1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_prepare failed: %s", tc->exists_sql);
		plans[i] = plan;
	}
	values[0] = ObjectIdGetDatum(role);
	rc = SPI_execute_snapshot(plans[i], values, NULL, GetLatestSnapshot(),
							  InvalidSnapshot, false, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot failed (%d): %s", rc, tc->exists_sql);
	return SPI_processed > 0;
}

/*
 * Forget role's entry once no row names it.  With wait, wait for writers
 * that may be adding rows; otherwise leave the entry when any is at work.
 */
static void
dep_remove(const TrackedColumn *tc, Oid relid, AttrNumber attnum, Oid role,
		   bool wait)
{
	OmlContext	ctx;
	bool		gone = false;

	if (IsPinnedObject(AuthIdRelationId, role))
		return;
	oml_enter(&ctx, true);
	if (!still_named(tc, role) &&
		lock_role(OML_LOCK_ROLE_DEPS, role, ExclusiveLock, !wait) &&
		!still_named(tc, role))
		gone = true;
	oml_leave(&ctx);
	if (gone && dep_exists(relid, attnum, role))
		dep_set(relid, attnum, role, false);
}

/*
 * The roles a column of a catalog row names, sorted and without
 * duplicates; returns how many.
 */
static int
row_roles(HeapTuple tup, TupleDesc desc, const TrackedColumn *tc,
		  AttrNumber attnum, Oid **roles)
{
	Datum		d;
	bool		isnull;

	*roles = NULL;
	if (tup == NULL)
		return 0;
	d = heap_getattr(tup, attnum, desc, &isnull);
	if (isnull)
		return 0;
	if (tc->is_acl)
		return aclmembers(DatumGetAclP(d), roles);
	if (!OidIsValid(DatumGetObjectId(d)))
		return 0;
	*roles = palloc(sizeof(Oid));
	(*roles)[0] = DatumGetObjectId(d);
	return 1;
}

/*
 * Is role among the n sorted roles?
 */
static bool
has_role(Oid *roles, int n, Oid role)
{
	for (int i = 0; i < n; i++)
	{
		if (roles[i] == role)
			return true;
	}
	return false;
}

/*
 * Trigger on oml.datastore, oml.datastore_object and oml.script: after a
 * row is inserted, deleted or changes a role column, add the entries of
 * roles it now names and drop those of roles no row names any more.  After
 * TRUNCATE, drop every entry of the table.
 */
Datum
oml_role_refs_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	const char *relname;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("oml.role_refs_changed() must be fired as an AFTER trigger")));
	rel = td->tg_relation;
	relname = RelationGetRelationName(rel);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		newtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		oldtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}

	for (int i = 0; i < NTRACKED; i++)
	{
		const TrackedColumn *tc = &tracked[i];
		Oid			relid = RelationGetRelid(rel);
		AttrNumber	attnum;
		Oid		   *oldroles;
		Oid		   *newroles;
		int			nold;
		int			nnew;

		if (strcmp(tc->relname, relname) != 0)
			continue;
		attnum = get_attnum(relid, tc->attname);
		if (attnum == InvalidAttrNumber)
			elog(ERROR, "column %s of oml.%s is missing", tc->attname, relname);

		if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		{
			nold = dep_roles(relid, attnum, InvalidOid, &oldroles);
			for (int j = 0; j < nold; j++)
				dep_set(relid, attnum, oldroles[j], false);
			continue;
		}

		nold = row_roles(oldtup, RelationGetDescr(rel), tc, attnum, &oldroles);
		nnew = row_roles(newtup, RelationGetDescr(rel), tc, attnum, &newroles);
		for (int j = 0; j < nnew; j++)
		{
			if (!has_role(oldroles, nold, newroles[j]))
				dep_add(tc, relid, attnum, newroles[j]);
		}
		for (int j = 0; j < nold; j++)
		{
			if (!has_role(newroles, nnew, oldroles[j]))
				dep_remove(tc, relid, attnum, oldroles[j], false);
		}
	}
	return PointerGetDatum(NULL);
}

/*
 * Make the entries of this database match the rows exactly; returns how
 * many entries were added or removed.  Rows naming roles that no longer
 * exist (left by version 0.1.0) are reported, not recorded.
 */
static int
sync_dependencies(void)
{
	OmlContext	ctx;
	int			changed = 0;
	int			orphans = 0;

	oml_enter(&ctx, true);
	oml_spi("LOCK TABLE oml.datastore, oml.datastore_object, oml.script IN SHARE MODE",
			false, 0, NULL, NULL, NULL, -1);
	for (int i = 0; i < NTRACKED; i++)
	{
		const TrackedColumn *tc = &tracked[i];
		Oid			relid;
		AttrNumber	attnum;
		Oid		   *have;
		int			nhave;
		int			nwant;
		Oid		   *want;

		tracked_address(tc, &relid, &attnum);
		nwant = oml_spi(tc->roles_sql, true, 0, NULL, NULL, NULL, -1);
		want = palloc(sizeof(Oid) * (nwant + 1));
		for (int j = 0; j < nwant; j++)
		{
			bool		isnull;

			want[j] = DatumGetObjectId(oml_spi_value(j, 0, &isnull));
		}
		nhave = dep_roles(relid, attnum, InvalidOid, &have);
		for (int j = 0; j < nwant; j++)
		{
			if (!OidIsValid(want[j]) || has_role(have, nhave, want[j]) ||
				IsPinnedObject(AuthIdRelationId, want[j]))
				continue;
			if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(want[j])))
			{
				orphans++;
				continue;
			}
			dep_set(relid, attnum, want[j], true);
			changed++;
		}
		for (int j = 0; j < nhave; j++)
		{
			if (has_role(want, nwant, have[j]))
				continue;
			dep_set(relid, attnum, have[j], false);
			changed++;
		}
	}
	oml_leave(&ctx);
	if (orphans > 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%d oml_store catalog entries name roles that no longer exist", orphans),
				 errdetail("They were left by DROP ROLE under oml_store 0.1.0 and show the role as a number."),
				 errhint("Delete them, or give them to an existing role with UPDATE as a superuser.")));
	return changed;
}

/*
 * SQL oml.role_dependencies_sync(): rebuild this database's entries.
 */
Datum
oml_role_dependencies_sync(PG_FUNCTION_ARGS)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to rebuild role dependencies"),
				 errdetail("Only superusers can run oml.role_dependencies_sync().")));
	PG_RETURN_INT32(sync_dependencies());
}

/*
 * Refuse DROP OWNED / REASSIGN OWNED of a role the caller does not act as,
 * with PostgreSQL's own words.
 */
static void
check_acts_as(Oid role, const char *what)
{
	if (!has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s objects", what)));
}

/*
 * Drop the datastores and scripts of role, the objects it wrote, and its
 * grants, in this database.
 */
static void
drop_owned_role(Oid role)
{
	OmlContext	ctx;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	values[0] = ObjectIdGetDatum(role);
	oml_enter(&ctx, true);
	oml_spi("DELETE FROM oml.datastore WHERE owner = $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("DELETE FROM oml.datastore_object WHERE writer = $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("DELETE FROM oml.script WHERE owner = $1",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("UPDATE oml.datastore d SET acl = (SELECT CASE WHEN count(*) = 0 THEN NULL"
			" ELSE array_agg(x) END FROM unnest(d.acl) x WHERE NOT EXISTS"
			" (SELECT FROM aclexplode(ARRAY[x]) e WHERE e.grantee = $1 OR e.grantor = $1))"
			" WHERE EXISTS (SELECT FROM aclexplode(d.acl) a WHERE a.grantee = $1 OR a.grantor = $1)",
			false, 1, argtypes, values, NULL, -1);
	oml_spi("UPDATE oml.script s SET acl = (SELECT CASE WHEN count(*) = 0 THEN NULL"
			" ELSE array_agg(x) END FROM unnest(s.acl) x WHERE NOT EXISTS"
			" (SELECT FROM aclexplode(ARRAY[x]) e WHERE e.grantee = $1 OR e.grantor = $1))"
			" WHERE EXISTS (SELECT FROM aclexplode(s.acl) a WHERE a.grantee = $1 OR a.grantor = $1)",
			false, 1, argtypes, values, NULL, -1);
	oml_leave(&ctx);
}

/*
 * Give every row of table (datastore or script) owned by from to role to,
 * moving the grants it made as PostgreSQL's ALTER OWNER does.  Runs inside
 * oml_enter(as_owner).
 */
static void
reassign_rows(const char *table, Oid from, Oid to)
{
	char		sql[256];
	Oid			argtypes[3] = {OIDOID, INT8OID, ACLITEMARRAYOID};
	Datum		values[3];
	int			n;
	int64	   *ids;
	Acl		  **acls;

	values[0] = ObjectIdGetDatum(from);
	snprintf(sql, sizeof(sql),
			 "SELECT id, acl FROM oml.%s WHERE owner = $1 FOR UPDATE", table);
	n = oml_spi(sql, false, 1, argtypes, values, NULL, -1);
	ids = palloc(sizeof(int64) * (n + 1));
	acls = palloc(sizeof(Acl *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d;

		ids[i] = DatumGetInt64(oml_spi_value(i, 0, &isnull));
		d = oml_spi_value(i, 1, &isnull);
		acls[i] = isnull ? NULL : aclnewowner(DatumGetAclP(d), from, to);
	}
	snprintf(sql, sizeof(sql),
			 "UPDATE oml.%s SET owner = $1, acl = $3 WHERE id = $2", table);
	for (int i = 0; i < n; i++)
	{
		char		nulls[3] = {' ', ' ', ' '};

		CHECK_FOR_INTERRUPTS();
		values[0] = ObjectIdGetDatum(to);
		values[1] = Int64GetDatum(ids[i]);
		if (acls[i] == NULL || ACL_NUM(acls[i]) == 0)
			nulls[2] = 'n';
		else
			values[2] = PointerGetDatum(acls[i]);
		oml_spi(sql, false, 3, argtypes, values, nulls, 1);
	}
}

/*
 * Give the datastores, objects and scripts of from to role to, in this
 * database.  Objects keep their trusted flag only if to is trusted.
 */
static void
reassign_owned_role(Oid from, Oid to)
{
	OmlContext	ctx;
	Oid			argtypes[3] = {OIDOID, OIDOID, BOOLOID};
	Datum		values[3];
	bool		isnull;

	if (from == to)
		return;
	values[0] = ObjectIdGetDatum(from);
	values[1] = ObjectIdGetDatum(to);
	values[2] = BoolGetDatum(oml_role_is_trusted(to));
	oml_enter(&ctx, true);
	if (oml_spi("SELECT o.name FROM oml.datastore o JOIN oml.datastore n"
				" ON n.name = o.name AND n.owner = $2 WHERE o.owner = $1"
				" ORDER BY o.name COLLATE \"C\" LIMIT 1",
				true, 2, argtypes, values, NULL, -1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("cannot reassign datastore \"%s\" of role \"%s\" to role \"%s\"",
						TextDatumGetCString(oml_spi_value(0, 0, &isnull)),
						GetUserNameFromId(from, false),
						GetUserNameFromId(to, false)),
				 errdetail("Role \"%s\" already has a datastore of that name.",
						   GetUserNameFromId(to, false)),
				 errhint("Delete one of the two datastores first.")));
	if (oml_spi("SELECT o.name FROM oml.script o JOIN oml.script n"
				" ON n.name = o.name AND n.owner = $2 AND NOT n.is_global"
				" WHERE o.owner = $1 AND NOT o.is_global"
				" ORDER BY o.name COLLATE \"C\" LIMIT 1",
				true, 2, argtypes, values, NULL, -1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("cannot reassign private script \"%s\" of role \"%s\" to role \"%s\"",
						TextDatumGetCString(oml_spi_value(0, 0, &isnull)),
						GetUserNameFromId(from, false),
						GetUserNameFromId(to, false)),
				 errdetail("Role \"%s\" already has a private script of that name.",
						   GetUserNameFromId(to, false)),
				 errhint("Drop one of the two scripts first.")));
	reassign_rows("datastore", from, to);
	reassign_rows("script", from, to);
	oml_spi("UPDATE oml.datastore_object SET writer = $2, trusted = trusted AND $3"
			" WHERE writer = $1",
			false, 3, argtypes, values, NULL, -1);
	oml_leave(&ctx);
}

/*
 * A role argument of oml.drop_owned / oml.reassign_owned.
 */
static Oid
role_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role name must not be null")));
	return get_role_oid(oml_arg_text(fcinfo, argno), false);
}

/*
 * SQL oml.drop_owned(role): what DROP OWNED BY role does to our rows, for
 * servers without the library in shared_preload_libraries.
 */
Datum
oml_drop_owned(PG_FUNCTION_ARGS)
{
	Oid			role = role_arg(fcinfo, 0);

	check_acts_as(role, "drop");
	drop_owned_role(role);
	PG_RETURN_VOID();
}

/*
 * SQL oml.reassign_owned(old_role, new_role): what REASSIGN OWNED does to
 * our rows, for servers without the library in shared_preload_libraries.
 */
Datum
oml_reassign_owned(PG_FUNCTION_ARGS)
{
	Oid			from = role_arg(fcinfo, 0);
	Oid			to = role_arg(fcinfo, 1);

	check_acts_as(from, "reassign");
	check_acts_as(to, "reassign");
	reassign_owned_role(from, to);
	PG_RETURN_VOID();
}

/*
 * Before DROP ROLE: refuse a role that rows of this database name, listing
 * them; otherwise clear stale entries so PostgreSQL's check passes.
 */
static void
check_drop_role(Oid role, const char *rolname)
{
	OmlContext	ctx;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			n;
	int64		total = 0;
	StringInfoData detail;

	values[0] = ObjectIdGetDatum(role);
	oml_enter(&ctx, true);
	n = oml_spi("SELECT l, count(*) OVER () FROM ("
				" SELECT 1 AS k, format('owner of datastore \"%s\"', d.name) AS l"
				"  FROM oml.datastore d WHERE d.owner = $1"
				" UNION ALL SELECT 2, format('owner of %s script \"%s\"',"
				"  CASE WHEN s.is_global THEN 'global' ELSE 'private' END, s.name)"
				"  FROM oml.script s WHERE s.owner = $1"
				" UNION ALL SELECT 3, format('writer of object \"%s\" in datastore \"%s\" of role %s',"
				"  o.name, d.name, d.owner)"
				"  FROM oml.datastore_object o JOIN oml.datastore d ON d.id = o.ds_id"
				"  WHERE o.writer = $1 AND d.owner <> $1"
				" UNION ALL SELECT 4, format('privileges for datastore \"%s\" of role %s', d.name, d.owner)"
				"  FROM oml.datastore d WHERE d.owner <> $1 AND EXISTS"
				"  (SELECT FROM aclexplode(d.acl) a WHERE a.grantee = $1 OR a.grantor = $1)"
				" UNION ALL SELECT 5, format('privileges for script \"%s\" of role %s', s.name, s.owner)"
				"  FROM oml.script s WHERE s.owner <> $1 AND EXISTS"
				"  (SELECT FROM aclexplode(s.acl) a WHERE a.grantee = $1 OR a.grantor = $1)"
				") q ORDER BY k, l COLLATE \"C\" LIMIT " CppAsString2(OML_MAX_REPORTED),
				true, 1, argtypes, values, NULL, -1);
	initStringInfo(&detail);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		if (i > 0)
			appendStringInfoChar(&detail, '\n');
		appendStringInfoString(&detail,
							   TextDatumGetCString(oml_spi_value(i, 0, &isnull)));
		total = DatumGetInt64(oml_spi_value(i, 1, &isnull));
	}
	oml_leave(&ctx);
	if (total > n)
		appendStringInfo(&detail, "\nand " INT64_FORMAT " other oml_store objects",
						 total - n);
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("role \"%s\" cannot be dropped because some objects depend on it",
						rolname),
				 errdetail_internal("%s", detail.data),
				 errhint("Use DROP OWNED BY to drop them and REASSIGN OWNED BY to give them to another role.")));

	for (int i = 0; i < NTRACKED; i++)
	{
		Oid			relid;
		AttrNumber	attnum;

		tracked_address(&tracked[i], &relid, &attnum);
		if (dep_exists(relid, attnum, role))
			dep_remove(&tracked[i], relid, attnum, role, true);
	}
}

/*
 * Is oml_store installed in this database (and not being installed)?
 */
static bool
extension_here(void)
{
	return !creating_extension && IsTransactionState() &&
		OidIsValid(get_extension_oid("oml_store", true));
}

/*
 * ProcessUtility hook: our part of DROP ROLE, DROP OWNED, REASSIGN OWNED,
 * COPY and DECLARE CURSOR, then the statement itself.
 */
static void
oml_utility_hook(PlannedStmt *pstmt, const char *queryString,
				 bool readOnlyTree, ProcessUtilityContext context,
				 ParamListInfo params, QueryEnvironment *queryEnv,
				 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropRoleStmt:
			if (role_commands && has_createrole_privilege(GetUserId()) &&
				extension_here())
			{
				DropRoleStmt *stmt = (DropRoleStmt *) parsetree;

				foreach(lc, stmt->roles)
				{
					RoleSpec   *rs = lfirst(lc);
					Oid			role;

					if (rs->roletype != ROLESPEC_CSTRING)
						continue;	/* PostgreSQL refuses it */
					role = get_role_oid(rs->rolename, true);
					if (OidIsValid(role))
						check_drop_role(role, rs->rolename);
				}
			}
			break;
		case T_DropOwnedStmt:
			if (role_commands && extension_here())
			{
				DropOwnedStmt *stmt = (DropOwnedStmt *) parsetree;
				List	   *roles = NIL;

				foreach(lc, stmt->roles)
				{
					Oid			role = get_rolespec_oid(lfirst(lc), false);

					check_acts_as(role, "drop");
					roles = lappend_oid(roles, role);
				}
				foreach(lc, roles)
					drop_owned_role(lfirst_oid(lc));
			}
			break;
		case T_ReassignOwnedStmt:
			if (role_commands && extension_here())
			{
				ReassignOwnedStmt *stmt = (ReassignOwnedStmt *) parsetree;
				List	   *roles = NIL;
				Oid			to;

				foreach(lc, stmt->roles)
				{
					Oid			role = get_rolespec_oid(lfirst(lc), false);

					check_acts_as(role, "reassign");
					roles = lappend_oid(roles, role);
				}
				to = get_rolespec_oid(stmt->newrole, false);
				check_acts_as(to, "reassign");
				foreach(lc, roles)
					reassign_owned_role(lfirst_oid(lc), to);
			}
			break;
		case T_CopyStmt:
			{
				CopyStmt   *stmt = (CopyStmt *) parsetree;

				if (!stmt->is_from && stmt->relation &&
					stmt->relation->schemaname &&
					strcmp(stmt->relation->schemaname, "oml") == 0 &&
					extension_here())
					oml_backup_check_copy(stmt);
			}
			break;
		case T_DeclareCursorStmt:
			/* checks that the session is pg_dump's first, which is cheap */
			if (!creating_extension)
				oml_backup_check_cursor((DeclareCursorStmt *) parsetree);
			break;
		default:
			break;
	}

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Install the hook; called once per backend from _PG_init.
 */
void
oml_roles_init(void)
{
	DefineCustomBoolVariable("oml_store.role_commands",
							 "DROP ROLE, DROP OWNED and REASSIGN OWNED act on oml_store's rows.",
							 "Off, they behave as without the library loaded: DROP ROLE is still refused while rows name the role.",
							 &role_commands, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = oml_utility_hook;
}
