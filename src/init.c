/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Library initialisation: _PG_init installs the hooks.
 *
 * Loaded through shared_preload_libraries, the hooks are active in every
 * backend; otherwise from a session's first use of the library on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "roles.h"

void		_PG_init(void);

/*
 * Called once when the library is loaded into a backend.
 */
void
_PG_init(void)
{
	oml_roles_init();
}
