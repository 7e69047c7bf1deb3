/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Library load: define oml_store's settings.
 *
 * The library is loaded on first use (or by shared_preload_libraries);
 * either way _PG_init runs before any of its functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "oml_store.h"

void		_PG_init(void);

/*
 * Define the settings, and reserve the oml_store. prefix for them.
 */
void
_PG_init(void)
{
	oml_runtime_define_gucs();
	MarkGUCPrefixReserved("oml_store");
}
