/*-------------------------------------------------------------------------
 *
 * version.c
 *	  The library and the installed schema: code of this release refuses
 *	  to run against the schema of an older one until ALTER EXTENSION
 *	  oml_store UPDATE has run.
 *
 * Functions that 0.1.0 already had keep working on a 0.1.0 schema (their
 * SQL objects are the same), so data can be saved and read before the
 * update; calls that need objects of the new schema (pyq* runs, whose
 * in-server package uses them) check first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "roles.h"

/* The schema version this library needs. */
#define OML_SCHEMA_VERSION "0.3.0"

/* Schema versions older than OML_SCHEMA_VERSION. */
static const char *const old_versions[] = {"0.1.0", "0.2.0", NULL};

/* Set once the installed schema was found new enough in this backend. */
static bool schema_ok = false;

/*
 * The installed version of oml_store in this database, or NULL.
 */
static char *
installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("oml_store"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Error out when the installed schema is older than this library.  Checked
 * until it passes once per backend (the update may come in the session).
 */
void
oml_require_schema_version(void)
{
	char	   *version;

	if (schema_ok)
		return;
	version = installed_version();
	if (version == NULL)
		return;					/* not installed: the caller's SQL fails */
	for (int i = 0; old_versions[i]; i++)
	{
		if (strcmp(version, old_versions[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("oml_store schema version %s is older than the installed library (%s)",
							version, OML_SCHEMA_VERSION),
					 errdetail("The library was upgraded but this database's extension was not."),
					 errhint("Run ALTER EXTENSION oml_store UPDATE in this database.")));
	}
	schema_ok = true;
}
