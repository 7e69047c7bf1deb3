/*-------------------------------------------------------------------------
 *
 * pyload.c
 *	  _oml.load_objects: the bytes that the in-server oml.ds.load unpickles,
 *	  read by C (dsread.c), which decides the trust rule.
 *
 * Each object's bytes go straight from the chunks into one Python bytes
 * object of the recorded size, so a load needs the object's size once in
 * bytes (plus the unpickled object), not a copy per layer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pyoml.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "oml_store.h"

/*
 * What a load builds: a list of (name, bytes, compression).
 */
typedef struct LoadState
{
	PyObject   *list;
	PyObject   *current;		/* bytes being filled (borrowed from list) */
	Py_ssize_t	filled;
	const char *ds_name;
} LoadState;

/*
 * A new object: its bytes object, of the recorded size, joins the list.
 */
static void
load_begin(void *arg, const char *name, int64 size, const char *compression)
{
	LoadState  *st = (LoadState *) arg;
	PyObject   *bytes;
	PyObject   *item;

	if ((uint64) size > (uint64) PY_SSIZE_T_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("object \"%s\" is too large to load", name)));
	bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) size);
	if (bytes == NULL)
	{
		PyErr_Clear();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Loading object \"%s\" of datastore \"%s\" needs " INT64_FORMAT " bytes.",
						   name, st->ds_name, size)));
	}
	item = Py_BuildValue("(sNs)", name, bytes, compression);
	if (item == NULL || PyList_Append(st->list, item) < 0)
	{
		Py_XDECREF(item);
		PyErr_Clear();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	Py_DECREF(item);
	st->current = bytes;		/* the list holds it */
	st->filled = 0;
}

/*
 * The next chunk of the current object, copied into place.
 */
static void
load_chunk(void *arg, const char *data, Size len)
{
	LoadState  *st = (LoadState *) arg;

	/* dsread.c never hands out more than the recorded size. */
	if (st->current == NULL ||
		st->filled + (Py_ssize_t) len > PyBytes_GET_SIZE(st->current))
		elog(ERROR, "chunk beyond the size of the object");
	memcpy(PyBytes_AS_STRING(st->current) + st->filled, data, len);
	st->filled += len;
}

/*
 * A Python list of str (or None) as a text[] of names.
 */
static ArrayType *
names_array(PyObject *objs)
{
	Py_ssize_t	n;
	Datum	   *elems;

	if (objs == NULL || objs == Py_None)
		return NULL;
	n = PyList_GET_SIZE(objs);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (Py_ssize_t i = 0; i < n; i++)
	{
		const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(objs, i));

		if (s == NULL)
		{
			PyErr_Clear();
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("object names must be str")));
		}
		elems[i] = CStringGetTextDatum(s);
	}
	return construct_array(elems, (int) n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * What oml_py_load_objects reads, run inside oml_py_in_subxact.
 */
typedef struct LoadCall
{
	const char *name;
	const char *owner;
	PyObject   *objs;
	LoadState  *st;
	int			version;		/* a kept version (dsversion.c), 0: none */
	const char *alias;			/* or the version an alias names */
} LoadCall;

/*
 * The body of a load: check the arguments and read through dsread.c.
 */
static void
load_run(void *arg)
{
	LoadCall   *lc = (LoadCall *) arg;
	OmlObjectReader reader = {load_begin, load_chunk, lc->st};
	Oid			ownerid;

	if (lc->name[0] == '\0' || (lc->owner != NULL && lc->owner[0] == '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("datastore and owner names must not be empty")));
	ownerid = lc->owner ? get_role_oid(lc->owner, false) : GetUserId();
	{
		/* Only this reader may honour usage grants (registry.c). */
		bool		prev = oml_registry_load_begin(true);

		PG_TRY();
		{
			oml_ds_version_request(lc->version > 0 || lc->alias != NULL,
								   lc->version, lc->alias);
			oml_ds_read_objects(lc->name, ownerid, names_array(lc->objs),
								&reader);
		}
		PG_FINALLY();
		{
			oml_ds_version_request(false, 0, NULL);
			(void) oml_registry_load_begin(prev);
		}
		PG_END_TRY();
	}
}

/*
 * _oml.load_objects(name, owner=None, objs=None, version=0, alias=None):
 * [(name, bytes, compression)] of the readable datastore's objects (of a
 * kept version when version or alias is given), all written by trusted
 * roles; an SPIError (42501 for an untrusted writer) otherwise.
 */
PyObject *
oml_py_load_objects(PyObject *self, PyObject *args)
{
	LoadState	st;
	LoadCall	lc = {NULL, NULL, NULL, &st, 0, NULL};

	if (!PyArg_ParseTuple(args, "s|zOiz", &lc.name, &lc.owner, &lc.objs,
						  &lc.version, &lc.alias) ||
		!oml_py_on_main_thread())
		return NULL;
	if (lc.objs != NULL && lc.objs != Py_None && !PyList_Check(lc.objs))
	{
		PyErr_SetString(PyExc_TypeError, "objs must be a list of str or None");
		return NULL;
	}
	st.list = PyList_New(0);
	if (st.list == NULL)
		return NULL;
	st.current = NULL;
	st.filled = 0;
	st.ds_name = lc.name;
	if (!oml_py_in_subxact(load_run, &lc))
	{
		Py_DECREF(st.list);
		return NULL;
	}
	return st.list;
}
