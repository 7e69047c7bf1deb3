/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Read rights and trust, on PostgreSQL's own terms, and pyqGrant /
 *	  pyqRevoke.
 *
 * Read grants are stored as aclitem[] with the SELECT bit, granted by the
 * owner, so aclmask() gives PUBLIC, role membership and inheritance exactly
 * as PostgreSQL does for its own objects.  The weaker grants of the
 * registry (registry.c) use the EXECUTE bit (run a script without reading
 * it) and the USAGE bit (let scripts load a datastore); row-level security
 * and every reader but the ones named there look at SELECT only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "oml_store.h"

PG_FUNCTION_INFO_V1(oml_ds_can_read);
PG_FUNCTION_INFO_V1(oml_is_trusted);
PG_FUNCTION_INFO_V1(oml_pyq_grant);
PG_FUNCTION_INFO_V1(oml_pyq_revoke);

/*
 * May roleid read an object of owner with read grants acl (which may be NULL)?
 */
bool
oml_role_can_read(Oid roleid, Oid owner, Acl *acl)
{
	if (superuser_arg(roleid) || has_privs_of_role(roleid, owner))
		return true;
	if (acl == NULL)
		return false;
	return aclmask(acl, roleid, owner, ACL_SELECT, ACLMASK_ANY) != 0;
}

/*
 * Is roleid trusted to have Python run or unpickled in the server for it?
 * Not while a sandboxed script runs (oml_sandbox_depth): what its SQL,
 * run as the caller, writes is recorded as written by an untrusted role,
 * and it cannot create scripts that run in process, even when the caller
 * is trusted.
 */
bool
oml_role_is_trusted(Oid roleid)
{
	Oid			dev;

	if (oml_sandbox_depth > 0)
		return false;
	if (superuser_arg(roleid))
		return true;
	dev = get_role_oid("oml_developer", true);
	return OidIsValid(dev) && has_privs_of_role(roleid, dev);
}

/*
 * May bytes written by writer be unpickled inside the server?  stored is the
 * flag recorded when they were written (the writer was trusted then, for
 * every chunk); the writer must still be trusted now, so that removing a
 * role from oml_developer (or dropping it) also withdraws its objects.
 */
bool
oml_object_trusted(bool stored, Oid writer)
{
	return stored && oml_role_is_trusted(writer);
}

/*
 * A role's name for messages, or its OID in brackets when it is gone.
 */
char *
oml_role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("(dropped role %u)", roleid);
}

/*
 * SQL oml.ds_can_read(owner, acl): the read check of the row-level security
 * policies, for the current role.
 */
Datum
oml_ds_can_read(PG_FUNCTION_ARGS)
{
	Acl		   *acl;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	acl = PG_ARGISNULL(1) ? NULL : DatumGetAclP(PG_GETARG_DATUM(1));
	PG_RETURN_BOOL(oml_role_can_read(GetUserId(), PG_GETARG_OID(0), acl));
}

/*
 * SQL oml.is_trusted(): is the current role trusted?
 */
Datum
oml_is_trusted(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(oml_role_is_trusted(GetUserId()));
}

/*
 * Catalog table and words for one kind of grantable object.
 */
typedef struct GrantTarget
{
	const char *what;			/* "datastore" or "script" */
	const char *weaker;			/* the privilege short of read (registry.c):
								 * "usage" or "execute" */
	AclMode		weaker_bit;
	const char *select_sql;		/* $1 owner, $2 name: id, grantable, acl */
	const char *update_sql;		/* $1 id, $2 acl */
	int			lock_kind;
} GrantTarget;

static const GrantTarget ds_target = {
	"datastore",
	"usage", ACL_USAGE,
	"SELECT id, grantable, acl FROM oml.datastore"
	" WHERE owner = $1 AND name = $2 FOR UPDATE",
	"UPDATE oml.datastore SET acl = $2 WHERE id = $1",
	OML_LOCK_DATASTORE
};

/* Only private scripts are granted: global ones are readable by all. */
static const GrantTarget script_target = {
	"script",
	"execute", ACL_EXECUTE,
	"SELECT id, true, acl FROM oml.script"
	" WHERE owner = $1 AND name = $2 AND NOT is_global FOR UPDATE",
	"UPDATE oml.script SET acl = $2 WHERE id = $1",
	OML_LOCK_SCRIPT
};

/*
 * Which kind of object v_type names.
 */
static const GrantTarget *
grant_target(FunctionCallInfo fcinfo, int argno)
{
	char	   *typ;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("object type must not be null"),
				 errhint("Use 'datastore' or 'pyqscript'.")));
	typ = oml_arg_text(fcinfo, argno);
	if (pg_strcasecmp(typ, "datastore") == 0)
		return &ds_target;
	if (pg_strcasecmp(typ, "pyqscript") == 0)
		return &script_target;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown object type \"%s\"", typ),
			 errhint("Use 'datastore' or 'pyqscript'.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * The grantee named by v_user: NULL or PUBLIC means everyone.
 */
static Oid
grant_grantee(FunctionCallInfo fcinfo, int argno)
{
	char	   *rolname;

	if (PG_ARGISNULL(argno))
		return ACL_ID_PUBLIC;
	rolname = oml_arg_text(fcinfo, argno);
	if (pg_strcasecmp(rolname, "public") == 0)
		return ACL_ID_PUBLIC;
	if (rolname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grantee name must not be empty"),
				 errhint("Pass NULL or 'PUBLIC' to grant to everyone.")));
	return get_role_oid(rolname, false);
}

/*
 * The privilege bits v_privilege names for target: 'read' (SELECT) or its
 * weaker privilege (USAGE of a datastore, EXECUTE of a script); NULL, for
 * a revoke only, means both.
 */
static AclMode
grant_privilege(FunctionCallInfo fcinfo, int argno, const GrantTarget *target,
				bool is_grant)
{
	char	   *priv;

	if (PG_NARGS() <= argno)
		return is_grant ? ACL_SELECT : ACL_SELECT | target->weaker_bit;
	if (PG_ARGISNULL(argno))
	{
		if (is_grant)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("privilege must not be null"),
					 errhint("Use 'read' or '%s' for a %s.", target->weaker,
							 target->what)));
		return ACL_SELECT | target->weaker_bit;
	}
	priv = oml_arg_text(fcinfo, argno);
	if (pg_strcasecmp(priv, "read") == 0)
		return ACL_SELECT;
	if (pg_strcasecmp(priv, target->weaker) == 0)
		return target->weaker_bit;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown privilege \"%s\" for a %s", priv, target->what),
			 errhint("Use 'read' or '%s' for a %s.", target->weaker,
					 target->what)));
	return 0;					/* keep compiler quiet */
}

/*
 * Does acl hold privilege bit for grantee, granted by grantor, itself
 * (not through a group)?
 */
static bool
acl_has_item(Acl *acl, Oid grantee, Oid grantor, AclMode bit)
{
	AclItem    *items = ACL_DAT(acl);

	for (int i = 0; i < ACL_NUM(acl); i++)
		if (items[i].ai_grantee == grantee && items[i].ai_grantor == grantor &&
			(ACLITEM_GET_PRIVS(items[i]) & bit) != 0)
			return true;
	return false;
}

/*
 * Add or remove a grant on one of the caller's own objects.  A grantee
 * holds at most one privilege of an object: granting read replaces the
 * weaker one, granting the weaker one to a reader changes nothing (read
 * includes it).
 */
static void
change_grant(FunctionCallInfo fcinfo, bool is_grant)
{
	const GrantTarget *target = grant_target(fcinfo, 1);
	/* Revoking, like dropping, may name an object from before 0.2.0. */
	char	   *name = is_grant ? oml_check_name(target->what, fcinfo, 0) :
		oml_check_name_to_drop(target->what, fcinfo, 0);
	Oid			grantee = grant_grantee(fcinfo, 2);
	AclMode		privs = grant_privilege(fcinfo, 3, target, is_grant);
	Oid			caller = GetUserId();
	OmlContext	ctx;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	int64		id;
	bool		grantable;
	Acl		   *old_acl;
	Acl		   *new_acl;
	AclItem		item;

	oml_lock_name(target->lock_kind, caller, name);
	oml_enter(&ctx, true);

	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(name);
	if (oml_spi(target->select_sql, false, 2, argtypes, values, NULL, -1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" does not exist", target->what, name),
				 errhint("Only your own %s%ss can be granted or revoked.",
						 target->lock_kind == OML_LOCK_SCRIPT ? "private " : "",
						 target->what)));
	id = DatumGetInt64(oml_spi_value(0, 0, &isnull));
	grantable = DatumGetBool(oml_spi_value(0, 1, &isnull));
	{
		Datum		d = oml_spi_value(0, 2, &isnull);

		old_acl = isnull ? make_empty_acl() : DatumGetAclPCopy(d);
	}

	if (is_grant && !grantable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_GRANT_OPERATION),
				 errmsg("%s \"%s\" is not grantable", target->what, name),
				 errhint("Save it again with grantable => true to share it.")));

	item.ai_grantee = grantee;
	item.ai_grantor = caller;
	if (is_grant && privs == ACL_SELECT)
	{
		/* read replaces the weaker privilege */
		ACLITEM_SET_PRIVS_GOPTIONS(item, target->weaker_bit, ACL_NO_RIGHTS);
		old_acl = aclupdate(old_acl, &item, ACL_MODECHG_DEL, caller,
							DROP_RESTRICT);
	}
	else if (is_grant && acl_has_item(old_acl, grantee, caller, ACL_SELECT))
		privs = ACL_NO_RIGHTS;	/* a reader may already run or use it */
	ACLITEM_SET_PRIVS_GOPTIONS(item, privs, ACL_NO_RIGHTS);
	new_acl = privs == ACL_NO_RIGHTS ? old_acl :
		aclupdate(old_acl, &item,
				  is_grant ? ACL_MODECHG_ADD : ACL_MODECHG_DEL,
				  caller, DROP_RESTRICT);

	{
		Oid			uptypes[2] = {INT8OID, ACLITEMARRAYOID};
		Datum		upvalues[2];
		char		upnulls[2] = {' ', ' '};

		upvalues[0] = Int64GetDatum(id);
		upvalues[1] = PointerGetDatum(new_acl);
		if (ACL_NUM(new_acl) == 0)
			upnulls[1] = 'n';
		oml_spi(target->update_sql, false, 2, uptypes, upvalues, upnulls, 1);
	}
	oml_leave(&ctx);
}

/*
 * SQL oml.pyqGrant(v_name, v_type, v_user, v_privilege).
 */
Datum
oml_pyq_grant(PG_FUNCTION_ARGS)
{
	change_grant(fcinfo, true);
	PG_RETURN_VOID();
}

/*
 * SQL oml.pyqRevoke(v_name, v_type, v_user, v_privilege).
 */
Datum
oml_pyq_revoke(PG_FUNCTION_ARGS)
{
	change_grant(fcinfo, false);
	PG_RETURN_VOID();
}
