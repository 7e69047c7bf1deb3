/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Library initialisation: _PG_init defines the settings and installs
 *	  the hooks.
 *
 * Loaded through shared_preload_libraries, the hooks are active in every
 * backend; otherwise from a session's first use of the library on.  Either
 * way _PG_init runs before any of the library's functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "oml_store.h"
#include "roles.h"

void		_PG_init(void);

/*
 * Called once when the library is loaded into a process.
 */
void
_PG_init(void)
{
	oml_runtime_define_gucs();
	oml_roles_init();
	oml_jobs_init();
	oml_sandbox_init();
	oml_registry_init();
	oml_runs_init();
	MarkGUCPrefixReserved("oml_store");
}
