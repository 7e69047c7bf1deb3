/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Helpers for reading and writing the oml catalog tables through SPI:
 *	  running as the extension owner, argument checks and name locks.
 *
 * Callers check the caller's rights first, then enter the owner's context
 * to write.  Errors need no cleanup here: transaction (or subtransaction)
 * abort restores the user id, security context and GUC nest level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "oml_store.h"

PG_MODULE_MAGIC;

/*
 * The role that owns the catalog tables: the one that created the extension.
 */
Oid
oml_catalog_owner(void)
{
	Oid			nsp = get_namespace_oid("oml", false);
	Oid			relid = get_relname_relid("datastore", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "oml_store catalog table oml.datastore is missing");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Connect to SPI with a safe search_path, optionally as the catalog owner.
 */
void
oml_enter(OmlContext *ctx, bool as_owner)
{
	GetUserIdAndSecContext(&ctx->save_userid, &ctx->save_sec_context);
	ctx->switched = as_owner;
	if (as_owner)
		SetUserIdAndSecContext(oml_catalog_owner(),
							   ctx->save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	ctx->caller_cxt = CurrentMemoryContext;
	ctx->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Undo oml_enter on the success path.
 */
void
oml_leave(OmlContext *ctx)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	AtEOXact_GUC(false, ctx->save_nestlevel);
	if (ctx->switched)
		SetUserIdAndSecContext(ctx->save_userid, ctx->save_sec_context);
}

/*
 * Prepared plans of the statements run through oml_spi, kept for the life
 * of the backend (the plan cache re-plans them when the catalog changes).
 */
#define OML_PLAN_CACHE_SIZE 64
static struct
{
	char	   *sql;
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	SPIPlanPtr	plan;
}			plan_cache[OML_PLAN_CACHE_SIZE];
static int	plan_cache_used = 0;

/*
 * The saved plan for sql with these argument types, prepared on first use.
 */
static SPIPlanPtr
cached_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	for (int i = 0; i < plan_cache_used; i++)
	{
		if (plan_cache[i].nargs == nargs &&
			strcmp(plan_cache[i].sql, sql) == 0 &&
			memcmp(plan_cache[i].argtypes, argtypes, sizeof(Oid) * nargs) == 0)
			return plan_cache[i].plan;
	}
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (plan_cache_used >= OML_PLAN_CACHE_SIZE || nargs > FUNC_MAX_ARGS)
		return plan;			/* used once, freed with the SPI context */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	plan_cache[plan_cache_used].sql = MemoryContextStrdup(TopMemoryContext, sql);
	plan_cache[plan_cache_used].nargs = nargs;
	memcpy(plan_cache[plan_cache_used].argtypes, argtypes, sizeof(Oid) * nargs);
	plan_cache[plan_cache_used].plan = plan;
	plan_cache_used++;
	return plan;
}

/*
 * Run one statement; returns SPI_processed.  expected >= 0 insists on that
 * many rows (a can't-happen check for statements that must hit one row).
 * Plans are prepared once per backend.
 */
int
oml_spi(const char *sql, bool read_only, int nargs, Oid *argtypes,
		Datum *values, const char *nulls, int expected)
{
	int			rc;

	rc = SPI_execute_plan(cached_plan(sql, nargs, argtypes), values, nulls,
						  read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%d): %s", rc, sql);
	if (expected >= 0 && SPI_processed != (uint64) expected)
		elog(ERROR, "expected %d rows, got " UINT64_FORMAT ": %s",
			 expected, SPI_processed, sql);
	return (int) SPI_processed;
}

/*
 * One value of the last SPI result (row and column from 0).
 */
Datum
oml_spi_value(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col + 1, isnull);
}

/*
 * Copy every row of the last SPI result into the set-returning function's
 * tuplestore.  The query's columns must match the function's.
 */
void
oml_spi_to_tuplestore(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc = rsinfo->setDesc;
	int			natts = desc->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		for (int c = 0; c < natts; c++)
			values[c] = oml_spi_value(r, c, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
	}
}

/*
 * Run a listing query (ds_dir, script_dir) as the caller, so row-level
 * security decides what shows, and return its rows from the set-returning
 * function.  The query takes $1, the caller's oid, and $2, the name or
 * pattern to match (NULL for all).
 */
void
oml_list_as_caller(FunctionCallInfo fcinfo, const char *sql, const char *name)
{
	OmlContext	ctx;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	InitMaterializedSRF(fcinfo, 0);
	values[0] = ObjectIdGetDatum(GetUserId());
	if (name)
		values[1] = CStringGetTextDatum(name);
	else
		nulls[1] = 'n';
	oml_enter(&ctx, false);
	oml_spi(sql, true, 2, argtypes, values, nulls, -1);
	oml_spi_to_tuplestore(fcinfo);
	oml_leave(&ctx);
}

/*
 * A text argument as a C string, or NULL when the argument is NULL.
 */
char *
oml_arg_text(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * Is code point c one that a name may not hold because it is invisible or
 * could make the name display as another: controls (C0, DEL, C1), format
 * characters (bidirectional embeddings, overrides, isolates and marks,
 * zero-width characters, the BOM, tags, ...), separators and spaces other
 * than U+0020, fillers and variation selectors, and noncharacters.
 */
static bool
invisible_char(pg_wchar c)
{
	static const pg_wchar ranges[][2] = {
		{0x0000, 0x001F},		/* C0 controls */
		{0x007F, 0x009F},		/* DEL, C1 controls */
		{0x00A0, 0x00A0},		/* no-break space */
		{0x00AD, 0x00AD},		/* soft hyphen */
		{0x034F, 0x034F},		/* combining grapheme joiner */
		{0x0600, 0x0605},		/* Arabic number signs */
		{0x061C, 0x061C},		/* Arabic letter mark */
		{0x06DD, 0x06DD},
		{0x070F, 0x070F},
		{0x0890, 0x0891},
		{0x08E2, 0x08E2},
		{0x115F, 0x1160},		/* Hangul fillers */
		{0x1680, 0x1680},		/* Ogham space mark */
		{0x17B4, 0x17B5},		/* Khmer invisible vowels */
		{0x180B, 0x180F},		/* Mongolian selectors and separator */
		{0x2000, 0x200F},		/* spaces, zero-width characters, LRM, RLM */
		{0x2028, 0x202F},		/* separators, bidi embeddings and overrides */
		{0x205F, 0x206F},		/* word joiner, invisible operators, isolates */
		{0x3000, 0x3000},		/* ideographic space */
		{0x3164, 0x3164},		/* Hangul filler */
		{0xFDD0, 0xFDEF},		/* noncharacters */
		{0xFE00, 0xFE0F},		/* variation selectors */
		{0xFEFF, 0xFEFF},		/* byte order mark, zero-width no-break space */
		{0xFFA0, 0xFFA0},		/* halfwidth Hangul filler */
		{0xFFF0, 0xFFFB},		/* interlinear annotation and others */
		{0x110BD, 0x110BD},
		{0x110CD, 0x110CD},
		{0x13430, 0x1343F},		/* Egyptian hieroglyph format controls */
		{0x1BCA0, 0x1BCA3},		/* shorthand format controls */
		{0x1D173, 0x1D17A},		/* musical symbol format controls */
		{0xE0000, 0xE0FFF},		/* tags, variation selectors supplement */
	};

	if ((c & 0xFFFE) == 0xFFFE)
		return true;			/* U+FFFE, U+FFFF and their kin */
	for (int i = 0; i < lengthof(ranges); i++)
		if (c >= ranges[i][0] && c <= ranges[i][1])
			return true;
	return false;
}

/*
 * Refuse a name holding a character that invisible_char rejects, naming
 * the character and its position (the name itself is not shown: it might
 * display as another).
 */
static void
check_name_chars(const char *what, const char *name)
{
	int			len = strlen(name);
	const unsigned char *utf8;
	const unsigned char *p;
	const unsigned char *end;
	int			pos = 0;

	/* Code points (the extension requires UTF-8 databases; be safe). */
	utf8 = (const unsigned char *) pg_server_to_any(name, len, PG_UTF8);
	if ((const char *) utf8 != name)
		len = strlen((const char *) utf8);
	end = utf8 + len;
	for (p = utf8; p < end; pos++)
	{
		int			n = pg_utf_mblen(p);
		pg_wchar	c;

		/* Not UTF-8 after all: judge the byte alone. */
		if (n > end - p || !pg_utf8_islegal(p, n))
		{
			c = *p;
			n = 1;
			if (c >= 0x80)
			{
				p++;
				continue;
			}
		}
		else
			c = utf8_to_unicode(p);
		if (invisible_char(c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 c < 0x20 || (c >= 0x7F && c <= 0x9F) ?
					 errmsg("%s name contains a control character", what) :
					 errmsg("%s name contains an invisible or formatting character", what),
					 errdetail("Character %d of the name is U+%04X.", pos + 1, c),
					 errhint("Names may hold only visible characters and the plain space (U+0020).")));
		p += n;
	}
}

/*
 * The checks every name gets: given, not empty, not too long, no control
 * character below U+0020 and no DEL; returns the name.
 */
static char *
check_name_basics(const char *what, FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	int			len;
	int			pos = 0;
	const unsigned char *p;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", what)));
	name = oml_arg_text(fcinfo, argno);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name must not be empty", what)));
	len = pg_mbstrlen(name);
	if (len > OML_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name is too long", what),
				 errdetail("Names are at most %d characters; this one has %d.",
						   OML_NAME_MAXLEN, len)));
	for (p = (const unsigned char *) name; *p; p += pg_mblen((const char *) p), pos++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s name contains a control character", what),
					 errdetail("Character %d of the name is U+%04X.", pos + 1, *p),
					 errhint("Names may hold only visible characters and the plain space (U+0020).")));
	}
	return name;
}

/*
 * Refuse a name that begins or ends with a space.
 */
static void
check_name_spaces(const char *what, const char *name)
{
	if (name[0] == ' ' || name[strlen(name) - 1] == ' ')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name \"%s\" begins or ends with a space", what, name)));
}

/*
 * Check a name argument (datastore, object or script) and return it.
 *
 * A name is 1 to OML_NAME_MAXLEN characters with no leading or trailing
 * space (42602) and none of the characters invisible_char rejects (22023),
 * so that no listing can show one name as another.
 */
char *
oml_check_name(const char *what, FunctionCallInfo fcinfo, int argno)
{
	char	   *name = check_name_basics(what, fcinfo, argno);

	check_name_chars(what, name);
	check_name_spaces(what, name);
	return name;
}

/*
 * The checks of oml_check_name that 0.1.0 made, for dropping and deleting
 * by name: those may name an object created before the character rules
 * were tightened (0.1.0 refused only controls below U+0020 and DEL).
 */
char *
oml_check_name_to_drop(const char *what, FunctionCallInfo fcinfo, int argno)
{
	char	   *name = check_name_basics(what, fcinfo, argno);

	check_name_spaces(what, name);
	return name;
}

/*
 * A regular expression argument: anything but NULL or empty (an empty
 * pattern would match every name).
 */
char *
oml_check_pattern(FunctionCallInfo fcinfo, int argno)
{
	char	   *pattern;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("regular expression must not be null")));
	pattern = oml_arg_text(fcinfo, argno);
	if (pattern[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("regular expression must not be empty"),
				 errhint("Use \".*\" to match every name.")));
	return pattern;
}

/*
 * Which of choices (a NULL-terminated list of lower-case words) a text
 * argument names, case-insensitively; its position in the list.
 */
int
oml_check_choice(const char *what, FunctionCallInfo fcinfo, int argno,
				 const char *const *choices)
{
	char	   *given;
	StringInfoData list;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	given = oml_arg_text(fcinfo, argno);
	initStringInfo(&list);
	for (int i = 0; choices[i]; i++)
	{
		if (pg_strcasecmp(given, choices[i]) == 0)
			return i;
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", choices[i]);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown %s \"%s\"", what, given),
			 errhint("Use one of %s.", list.data)));
	return -1;					/* keep compiler quiet */
}

/*
 * A boolean argument that must not be NULL.
 */
bool
oml_check_bool(const char *what, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_BOOL(argno);
}

/*
 * The role named by an owner argument; NULL means the current role.
 */
Oid
oml_resolve_owner(FunctionCallInfo fcinfo, int argno)
{
	char	   *rolname;

	if (PG_ARGISNULL(argno))
		return GetUserId();
	rolname = oml_arg_text(fcinfo, argno);
	if (rolname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("owner name must not be empty"),
				 errhint("Pass NULL for the current role.")));
	return get_role_oid(rolname, false);
}

/*
 * Serialise writers of one named object of one owner until transaction end.
 *
 * Two sessions saving the same new datastore otherwise both find it missing;
 * with this lock the second waits, then sees the first one's datastore.
 */
void
oml_lock_name(int kind, Oid owner, const char *name)
{
	LOCKTAG		tag;
	uint32		h;

	h = DatumGetUInt32(hash_any((const unsigned char *) name, strlen(name)));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, owner, h, OML_LOCK_CLASS + kind);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}
