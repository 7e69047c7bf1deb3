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
 * What a load builds: a list of (name, bytes, compression), or with an
 * unpickle callable, of (name, object).
 */
typedef struct LoadState
{
	PyObject   *list;
	PyObject   *unpickle;		/* unpickle(fill, compression), or NULL */
	PyObject   *err_type;		/* the Python error that ended a load */
	PyObject   *err_value;
	PyObject   *err_tb;
	const char *ds_name;
} LoadState;

/*
 * A new object without unpickle: its bytes, copied chunk by chunk into one
 * bytes object of the recorded size, join the list.
 */
static void
load_bytes(void *arg, const char *name, int64 size, const char *compression,
		   OmlChunkStream *stream)
{
	LoadState  *st = (LoadState *) arg;
	PyObject   *bytes;
	PyObject   *item;
	Py_ssize_t	filled = 0;
	const char *data;
	Size		len;

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
	Py_DECREF(item);			/* the list holds bytes */
	while (oml_ds_next_chunk(stream, &data, &len))
	{
		/* dsread.c never hands out more than the recorded size. */
		if (filled + (Py_ssize_t) len > PyBytes_GET_SIZE(bytes))
			elog(ERROR, "chunk beyond the size of the object");
		memcpy(PyBytes_AS_STRING(bytes) + filled, data, len);
		filled += len;
	}
}

/*
 * The state behind one fill callable: the chunks of the object being
 * unpickled.  It lives in Python's memory (the callable may outlive the
 * read); stream is NULL once the read is over.
 */
typedef struct ChunkFill
{
	OmlChunkStream *stream;
	const char *data;			/* what is left of the current chunk */
	Size		left;
	bool		eof;
} ChunkFill;

#define CHUNK_FILL_CAPSULE "oml_store.chunk_fill"

/*
 * Free a ChunkFill with its capsule.
 */
static void
chunk_fill_free(PyObject *capsule)
{
	PyMem_Free(PyCapsule_GetPointer(capsule, CHUNK_FILL_CAPSULE));
}

/*
 * Read the next chunk into cf, inside oml_py_in_subxact.
 */
static void
chunk_fill_next(void *arg)
{
	ChunkFill  *cf = (ChunkFill *) arg;

	cf->eof = !oml_ds_next_chunk(cf->stream, &cf->data, &cf->left);
}

/*
 * fill(buffer): copy the object's next bytes into the writable buffer, as
 * many as fit; returns how many (0 at the end).  Chunks are read as they
 * are needed, so unpickling holds one chunk at a time, not the whole
 * object.  A damaged object or a cancel raises SPIError.
 */
static PyObject *
chunk_fill(PyObject *self, PyObject *arg)
{
	ChunkFill  *cf = PyCapsule_GetPointer(self, CHUNK_FILL_CAPSULE);
	Py_buffer	view;
	Py_ssize_t	done = 0;

	if (cf == NULL || !oml_py_on_main_thread())
		return NULL;
	if (cf->stream == NULL)
	{
		PyErr_SetString(PyExc_ValueError, "the datastore read is over");
		return NULL;
	}
	if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	while (done < view.len)
	{
		Size		take;

		if (cf->left == 0)
		{
			if (cf->eof || !oml_py_in_subxact(chunk_fill_next, cf))
				break;
			if (cf->eof)
				break;
			continue;
		}
		take = Min(cf->left, (Size) (view.len - done));
		memcpy((char *) view.buf + done, cf->data, take);
		cf->data += take;
		cf->left -= take;
		done += take;
	}
	PyBuffer_Release(&view);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromSsize_t(done);
}

static PyMethodDef chunk_fill_def = {
	"fill", chunk_fill, METH_O,
	"fill(buffer): copy the object's next bytes into buffer; returns how many (0 at the end)."
};

/*
 * A new object with unpickle: unpickle(fill, compression) builds it from
 * the chunks as it pulls them, and (name, object) joins the list.  Runs as
 * the caller.  A Python error is kept in st, to be raised as it was.
 */
static void
load_unpickled(void *arg, const char *name, int64 size,
			   const char *compression, OmlChunkStream *stream)
{
	LoadState  *st = (LoadState *) arg;
	ChunkFill  *cf;
	PyObject   *capsule;
	PyObject   *volatile fill = NULL;
	PyObject   *volatile obj = NULL;
	PyObject   *volatile args = NULL;
	PyObject   *volatile item = NULL;

	cf = PyMem_Malloc(sizeof(ChunkFill));
	if (cf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	memset(cf, 0, sizeof(ChunkFill));
	cf->stream = stream;
	capsule = PyCapsule_New(cf, CHUNK_FILL_CAPSULE, chunk_fill_free);
	if (capsule == NULL)
	{
		PyMem_Free(cf);
		PyErr_Clear();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	PG_TRY();
	{
		fill = PyCFunction_New(&chunk_fill_def, capsule);
		if (fill != NULL)
			args = Py_BuildValue("(Os)", fill, compression);
		if (args != NULL)
			obj = oml_py_call_guarded(st->unpickle, args, NULL);
		if (obj != NULL)
		{
			item = Py_BuildValue("(sO)", name, obj);
			if (item != NULL && PyList_Append(st->list, item) < 0)
				Py_CLEAR(item);
		}
	}
	PG_FINALLY();
	{
		cf->stream = NULL;		/* a fill kept by the object reads no more */
		Py_XDECREF(obj);
		Py_XDECREF(args);
		Py_XDECREF(fill);
		Py_DECREF(capsule);
	}
	PG_END_TRY();
	if (item == NULL)
	{
		PyErr_Fetch(&st->err_type, &st->err_value, &st->err_tb);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not unpickle object \"%s\" of datastore \"%s\"",
						name, st->ds_name)));
	}
	Py_DECREF(item);
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
	bool		trusted_only;	/* refuse objects of untrusted writers */
	int			version;		/* a kept version (dsversion.c), 0: none */
	const char *alias;			/* or the version an alias names */
	MemoryContext cxt;			/* what the read allocates, freed after it */
} LoadCall;

/*
 * The body of a load: check the arguments and read through dsread.c.
 */
static void
load_run(void *arg)
{
	LoadCall   *lc = (LoadCall *) arg;
	OmlObjectReader reader = {lc->st->unpickle ? load_unpickled : load_bytes,
	lc->st};
	Oid			ownerid;

	/* On an error, oml_py_in_subxact switches back to the caller's. */
	MemoryContextSwitchTo(lc->cxt);
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
			if (lc->trusted_only)
				oml_ds_read_objects(lc->name, ownerid, names_array(lc->objs),
									&reader);
			else
				oml_ds_read_readable(lc->name, ownerid, names_array(lc->objs),
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
 * _oml.load_objects(name, owner=None, objs=None, unpickle=None, version=0,
 * alias=None): the readable datastore's objects (of a kept version when
 * version or alias is given) as [(name, bytes, compression)], or with
 * unpickle as [(name, object)], each object being unpickle(fill,
 * compression) with fill(buffer) reading its bytes chunk by chunk
 * (streamed: the bytes are never whole in memory).  With trusted_only all
 * must be written by trusted roles: an SPIError (42501 for an untrusted
 * writer, before any bytes are read) otherwise, or the error unpickle
 * raised.
 */
static PyObject *
load_objects(PyObject *args, bool trusted_only)
{
	LoadState	st;
	LoadCall	lc = {NULL, NULL, NULL, &st, trusted_only, 0, NULL, NULL};
	bool		ok;

	memset(&st, 0, sizeof(st));
	if (!PyArg_ParseTuple(args, "s|zOOiz", &lc.name, &lc.owner, &lc.objs,
						  &st.unpickle, &lc.version, &lc.alias) ||
		!oml_py_on_main_thread())
		return NULL;
	if (lc.objs != NULL && lc.objs != Py_None && !PyList_Check(lc.objs))
	{
		PyErr_SetString(PyExc_TypeError, "objs must be a list of str or None");
		return NULL;
	}
	if (st.unpickle == Py_None)
		st.unpickle = NULL;
	if (st.unpickle != NULL && !PyCallable_Check(st.unpickle))
	{
		PyErr_SetString(PyExc_TypeError, "unpickle must be callable or None");
		return NULL;
	}
	st.list = PyList_New(0);
	if (st.list == NULL)
		return NULL;
	st.ds_name = lc.name;

	/*
	 * The listing, names and chunks of one load live in a context of its
	 * own, freed whether the load succeeds or not: a script may load many
	 * times in one call.
	 */
	lc.cxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store load",
								   ALLOCSET_SMALL_SIZES);
	ok = oml_py_in_subxact(load_run, &lc);
	MemoryContextDelete(lc.cxt);
	if (!ok)
	{
		Py_DECREF(st.list);
		if (st.err_type != NULL)
		{
			/* unpickle's own error, not the SQL error that ended the read */
			PyErr_Clear();
			PyErr_Restore(st.err_type, st.err_value, st.err_tb);
		}
		return NULL;
	}
	return st.list;
}

/*
 * _oml.load_objects(name, owner=None, objs=None) inside the server.
 */
PyObject *
oml_py_load_objects(PyObject *self, PyObject *args)
{
	return load_objects(args, true);
}

/*
 * The same for the sandbox (sandbox.c): objects the caller may read,
 * whoever wrote them, since they are unpickled in the sandbox.
 */
PyObject *
oml_py_load_readable(PyObject *self, PyObject *args)
{
	return load_objects(args, false);
}
