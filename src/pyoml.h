/*-------------------------------------------------------------------------
 *
 * pyoml.h
 *	  Python's headers, included after postgres.h, and the declarations of
 *	  the embedded runtime.
 *
 * Python.h redefines some POSIX feature macros and must see the libc printf
 * family, which port.h replaces with macros; undo and redo around it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PYOML_H
#define PYOML_H

#ifndef POSTGRES_H
#error postgres.h must be included before pyoml.h
#endif

#undef _POSIX_C_SOURCE
#undef _XOPEN_SOURCE
#undef vsnprintf
#undef snprintf
#undef vsprintf
#undef sprintf
#undef vfprintf
#undef fprintf
#undef vprintf
#undef printf

#include <Python.h>

#undef vsnprintf
#undef snprintf
#undef vsprintf
#undef sprintf
#undef vfprintf
#undef fprintf
#undef vprintf
#undef printf
#define vsnprintf		pg_vsnprintf
#define snprintf		pg_snprintf
#define vsprintf		pg_vsprintf
#define sprintf			pg_sprintf
#define vfprintf		pg_vfprintf
#define fprintf			pg_fprintf
#define vprintf			pg_vprintf
#define printf(...)		pg_printf(__VA_ARGS__)

#include <signal.h>

#include "access/tupdesc.h"
#include "executor/spi.h"

#include "oml_store.h"

/* pyruntime.c */
extern PyObject *oml_py_runtime;	/* module oml_store._runtime */
extern void oml_py_init(void);
extern void oml_py_raise(const char *scr_name) pg_attribute_noreturn();
extern PyObject *oml_py_call_guarded(PyObject *callable, PyObject *args,
									 PyObject *kwargs);
extern PyObject *oml_py_runtime_call(const char *fname, PyObject *args);
extern void oml_py_error_from_pg(ErrorData *edata);
extern bool oml_py_on_main_thread(void);
extern bool oml_py_in_subxact(void (*fn) (void *arg), void *arg);
extern void oml_py_release(PyObject **obj);

/* pyload.c */
extern PyObject *oml_py_load_objects(PyObject *self, PyObject *args);
extern PyObject *oml_py_load_readable(PyObject *self, PyObject *args);
extern void oml_py_enter(MemoryContext cxt);
extern void oml_py_clear_error(void);
extern bool oml_py_tracer_on(void);

/* pystate.c */
extern volatile sig_atomic_t oml_forked_child;
extern int	oml_max_output_bytes;
extern void oml_state_save_locale(void);
extern void oml_state_restore_locale(void);
extern void oml_state_init(void);
extern void oml_state_child_exit(PyObject *result) pg_attribute_noreturn();
extern bool oml_state_changed(void);
extern bool oml_state_after_call(void);
extern void oml_state_statement_end(void);
typedef struct OmlPgState
{
	int			cwd;			/* the script's directory, or -1 */
	int			limit;			/* the script's recursion limit */
} OmlPgState;
extern void oml_state_enter_pg(OmlPgState *st);
extern void oml_state_leave_pg(OmlPgState *st);
extern PyObject *oml_state_py_write(PyObject *self, PyObject *args);
extern void oml_state_flush_output(void);

/* pyconvert.c */
typedef struct OmlColumns OmlColumns;
extern void oml_py_convert_init(void);
extern PyObject *oml_datum_to_py(Datum d, bool isnull, Oid typid);
extern void oml_check_value_size(Size len, Oid typid);
extern Datum oml_py_to_datum(PyObject *obj, Oid typid, int32 typmod,
							 bool *isnull);
extern OmlColumns *oml_columns_begin(TupleDesc desc);
extern void oml_columns_add(OmlColumns *cols, HeapTuple tup);
extern void oml_columns_add_values(OmlColumns *cols, Datum *values,
								   bool *isnull);
extern uint64 oml_columns_count(OmlColumns *cols);
extern PyObject *oml_columns_take(OmlColumns *cols);
extern void oml_columns_free(OmlColumns *cols);
extern PyObject *oml_spi_result_to_columns(SPITupleTable *tuptable,
										   uint64 nrows);
extern PyObject *oml_execute_to_columns(SPIPlanPtr plan, ParamListInfo params,
										int *rc);

/* sandbox.c */
extern PyObject *oml_sandbox_run(OmlSandbox **sbp, MemoryContext mcxt,
								 const OmlScript *scr, PyObject *call);

#endif							/* PYOML_H */
