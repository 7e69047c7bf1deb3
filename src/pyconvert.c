/*-------------------------------------------------------------------------
 *
 * pyconvert.c
 *	  Conversion between PostgreSQL values and Python objects: single
 *	  values, and whole result sets column by column for numpy and pandas.
 *
 * Columns are gathered in C as packed 8-byte values (float64, int64, days
 * or microseconds) with a null mask, or as a list of Python objects for
 * text and other types.  oml_store._runtime turns them into numpy arrays
 * with np.frombuffer: no Python object per numeric value, no dict per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "pyoml.h"

/* Python's datetime.h and PostgreSQL's utils/datetime.h share a guard. */
#include <datetime.h>
#undef DATETIME_H

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "tcop/dest.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "oml_store.h"

/* Column kinds, as named to oml_store._runtime. */
typedef enum ColKind
{
	COL_FLOAT,					/* float4, float8, numeric: float64 */
	COL_INT,					/* int2, int4, int8: int64 */
	COL_BOOL,					/* bool: one byte */
	COL_DATE,					/* date: int64 days since 2000-01-01 */
	COL_TIMESTAMP,				/* timestamp: int64 microseconds since 2000 */
	COL_TIMESTAMPTZ,			/* timestamptz: the same, in UTC */
	COL_OBJECT					/* anything else: Python objects */
} ColKind;

static const char *const kind_names[] = {
	"float", "int", "bool", "date", "timestamp", "timestamptz", "object"
};

/*
 * Load Python's datetime C API, for this file's conversions.
 */
void
oml_py_convert_init(void)
{
	PyDateTime_IMPORT;
	if (PyDateTimeAPI == NULL)
		oml_py_raise(NULL);
}

/*
 * A PostgreSQL string in the server encoding as a Python str.
 */
static PyObject *
str_to_py(const char *s, int len)
{
	char	   *utf8 = pg_server_to_any(s, len, PG_UTF8);
	PyObject   *res;

	if (utf8 != s)
		len = strlen(utf8);
	res = PyUnicode_FromStringAndSize(utf8, len);
	if (utf8 != s)
		pfree(utf8);
	return res;
}

/*
 * One datum as a Python object (a new reference).  Types without a natural
 * Python form come back as their text output.
 */
PyObject *
oml_datum_to_py(Datum d, bool isnull, Oid typid)
{
	if (isnull)
		Py_RETURN_NONE;
	switch (typid)
	{
		case BOOLOID:
			return PyBool_FromLong(DatumGetBool(d));
		case INT2OID:
			return PyLong_FromLong(DatumGetInt16(d));
		case INT4OID:
			return PyLong_FromLong(DatumGetInt32(d));
		case INT8OID:
			return PyLong_FromLongLong(DatumGetInt64(d));
		case OIDOID:
			return PyLong_FromUnsignedLong(DatumGetObjectId(d));
		case FLOAT4OID:
			return PyFloat_FromDouble(DatumGetFloat4(d));
		case FLOAT8OID:
			return PyFloat_FromDouble(DatumGetFloat8(d));
		case NUMERICOID:
			return PyFloat_FromDouble(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d)));
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case JSONOID:
		case XMLOID:
			{
				text	   *t = DatumGetTextPP(d);

				return str_to_py(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
		case NAMEOID:
			return str_to_py(NameStr(*DatumGetName(d)),
							 strlen(NameStr(*DatumGetName(d))));
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(d);

				return PyBytes_FromStringAndSize(VARDATA_ANY(b),
												 VARSIZE_ANY_EXHDR(b));
			}
		case DATEOID:
			{
				DateADT		date = DatumGetDateADT(d);
				int			y,
							m,
							dd;

				if (DATE_NOT_FINITE(date))
					break;
				j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
				return PyDate_FromDate(y, m, dd);
			}
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			{
				Timestamp	ts = DatumGetTimestamp(d);
				struct pg_tm tm;
				fsec_t		fsec;

				if (TIMESTAMP_NOT_FINITE(ts) ||
					timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
					break;
				return PyDateTimeAPI->DateTime_FromDateAndTime(
															   tm.tm_year, tm.tm_mon, tm.tm_mday,
															   tm.tm_hour, tm.tm_min, tm.tm_sec, fsec,
															   typid == TIMESTAMPTZOID ? PyDateTime_TimeZone_UTC : Py_None,
															   PyDateTimeAPI->DateTimeType);
			}
		default:
			break;
	}

	/* Everything else, and infinite dates, as text. */
	{
		Oid			outfn;
		bool		isvarlena;
		char	   *s;

		getTypeOutputInfo(typid, &outfn, &isvarlena);
		s = OidOutputFunctionCall(outfn, d);
		return str_to_py(s, strlen(s));
	}
}

/*
 * Refuse a value of len bytes for a varlena type: PostgreSQL values are at
 * most 1 GB (MaxAllocSize less the length word).
 */
void
oml_check_value_size(Size len, Oid typid)
{
	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("result value is too large for type %s", format_type_be(typid)),
				 errdetail("The value has %zu bytes; a PostgreSQL value is at most %zu bytes (1 GB).",
						   (size_t) len, (size_t) (MaxAllocSize - VARHDRSZ))));
}

/*
 * A Python str's text in the server encoding, checked against the 1 GB
 * limit; *len gets its length in bytes.  NULL (no Python error set) when
 * the str cannot be encoded as UTF-8 (lone surrogates).
 */
static pg_noinline char *
py_str_to_server(PyObject *str, Oid typid, Size *len)
{
	Py_ssize_t	n;
	const char *utf8 = PyUnicode_AsUTF8AndSize(str, &n);
	char	   *server;

	if (utf8 == NULL)
	{
		PyErr_Clear();
		return NULL;
	}
	oml_check_value_size((Size) n, typid);
	server = pg_any_to_server(utf8, (int) n, PG_UTF8);
	if (server == utf8)
		server = (char *) utf8;
	else
		n = strlen(server);
	oml_check_value_size((Size) n, typid);
	*len = (Size) n;
	return server;
}

/*
 * py_str_to_server's text as a palloc'd copy, releasing str (a new
 * reference) whatever happens.
 */
static pg_noinline char *
py_str_steal_copy(PyObject *str, Oid typid)
{
	char	   *volatile copy = NULL;

	PG_TRY();
	{
		Size		len;
		char	   *server = py_str_to_server(str, typid, &len);

		if (server != NULL)
			copy = (server == PyUnicode_AsUTF8(str)) ? pnstrdup(server, len) : server;
	}
	PG_CATCH();
	{
		Py_DECREF(str);
		PG_RE_THROW();
	}
	PG_END_TRY();
	Py_DECREF(str);
	return copy;
}

/*
 * A Python object as a datum of type typid.  None and float NaN give NULL;
 * bytes give bytea; bool, int and float map directly where the type allows;
 * anything else goes through str() and the type's input function.
 */
Datum
oml_py_to_datum(PyObject *obj, Oid typid, int32 typmod, bool *isnull)
{
	PyObject   *str;
	const char *s;
	Datum		result;
	Oid			infn;
	Oid			ioparam;

	*isnull = false;
	if (obj == Py_None ||
		(PyFloat_Check(obj) && isnan(PyFloat_AS_DOUBLE(obj))))
	{
		*isnull = true;
		return (Datum) 0;
	}

	/* A whole float (an int column that passed through float64) fits. */
	if ((typid == INT2OID || typid == INT4OID || typid == INT8OID) &&
		PyFloat_Check(obj))
	{
		double		v = PyFloat_AS_DOUBLE(obj);

		if (isfinite(v) && v == floor(v) &&
			v >= (double) PG_INT64_MIN && v < -(double) PG_INT64_MIN)
		{
			int64		i = (int64) v;

			if (typid == INT8OID)
				return Int64GetDatum(i);
			if (typid == INT4OID && i >= PG_INT32_MIN && i <= PG_INT32_MAX)
				return Int32GetDatum((int32) i);
			if (typid == INT2OID && i >= PG_INT16_MIN && i <= PG_INT16_MAX)
				return Int16GetDatum((int16) i);
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value %.0f is out of range for type %s",
							v, format_type_be(typid))));
		}
	}

	/* Dicts and lists for json columns: JSON text, not Python's repr. */
	if ((typid == JSONOID || typid == JSONBOID) &&
		(PyDict_Check(obj) || PyList_Check(obj) || PyTuple_Check(obj)))
	{
		PyObject   *text;
		volatile Datum d;

		/* Valid JSON: NaN and infinities as null (see _runtime.json_text). */
		text = PyObject_CallMethod(oml_py_runtime, "json_text", "O", obj);
		if (unlikely(oml_forked_child))
			oml_state_child_exit(text); /* forked by the value's code */
		if (text == NULL)
			oml_py_raise(NULL);
		if (!PyUnicode_Check(text))
		{
			Py_DECREF(text);
			oml_py_clear_error();
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("could not convert a Python %s to JSON",
							Py_TYPE(obj)->tp_name)));
		}
		PG_TRY();
		{
			d = oml_py_to_datum(text, typid, typmod, isnull);
		}
		PG_FINALLY();
		{
			Py_DECREF(text);
		}
		PG_END_TRY();
		return d;
	}

	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			if (PyUnicode_Check(obj) && typmod < 0)
			{
				Size		len;
				char	   *server = py_str_to_server(obj, typid, &len);

				if (server == NULL)
					break;
				return PointerGetDatum(cstring_to_text_with_len(server, len));
			}
			break;
		case INT4OID:
		case INT2OID:
			if (PyLong_Check(obj) && !PyBool_Check(obj))
			{
				int			overflow;
				long		v = PyLong_AsLongAndOverflow(obj, &overflow);

				if (v == -1 && PyErr_Occurred())
					PyErr_Clear();
				else if (!overflow &&
						 v >= (typid == INT2OID ? PG_INT16_MIN : PG_INT32_MIN) &&
						 v <= (typid == INT2OID ? PG_INT16_MAX : PG_INT32_MAX))
					return typid == INT2OID ? Int16GetDatum((int16) v) :
						Int32GetDatum((int32) v);
			}
			break;	/* out of range: the input function reports it */
		case FLOAT4OID:
			/* As float8::float4: out of range is an error, not infinity. */
			if (PyFloat_Check(obj))
				return DirectFunctionCall1(dtof,
										   Float8GetDatum(PyFloat_AS_DOUBLE(obj)));
			break;
		case BOOLOID:
			if (PyBool_Check(obj) || PyLong_Check(obj))
			{
				int			truth = PyObject_IsTrue(obj);	/* may run __bool__ */

				if (unlikely(oml_forked_child))
					oml_state_child_exit(truth >= 0 ? Py_None : NULL);
				if (truth >= 0)
					return BoolGetDatum(truth);
				oml_py_clear_error();
			}
			break;
		case INT8OID:
			if (PyLong_Check(obj) && !PyBool_Check(obj))
			{
				long long	v = PyLong_AsLongLong(obj);

				if (v == -1 && PyErr_Occurred())
				{
					PyErr_Clear();
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("Python integer out of range for type bigint")));
				}
				return Int64GetDatum(v);
			}
			break;
		case FLOAT8OID:
			if (PyFloat_Check(obj))
				return Float8GetDatum(PyFloat_AS_DOUBLE(obj));
			if (PyLong_Check(obj) && !PyBool_Check(obj))
			{
				double		v = PyLong_AsDouble(obj);

				if (v == -1.0 && PyErr_Occurred())
				{
					PyErr_Clear();
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("Python integer out of range for type double precision")));
				}
				return Float8GetDatum(v);
			}
			break;
		case BYTEAOID:
			if (PyBytes_Check(obj) || PyByteArray_Check(obj) ||
				PyMemoryView_Check(obj))
			{
				Py_buffer	view;
				bytea	   *b;

				if (PyObject_GetBuffer(obj, &view, PyBUF_CONTIG_RO) < 0)
				{
					PyErr_Clear();
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("could not read a contiguous buffer from a Python bytes-like object")));
				}
				if ((Size) view.len > MaxAllocSize - VARHDRSZ)
				{
					Size		n = view.len;

					PyBuffer_Release(&view);
					oml_check_value_size(n, typid);
				}
				b = palloc(VARHDRSZ + view.len);
				SET_VARSIZE(b, VARHDRSZ + view.len);
				memcpy(VARDATA(b), view.buf, view.len);
				PyBuffer_Release(&view);
				return PointerGetDatum(b);
			}
			break;
		default:
			break;
	}

	if (PyBool_Check(obj))
		str = PyUnicode_FromString(obj == Py_True ? "true" : "false");
	else
		str = PyObject_Str(obj);
	/* A __str__ that forked: the child must not go on into PostgreSQL. */
	if (unlikely(oml_forked_child))
		oml_state_child_exit(str);
	if (str == NULL || !PyUnicode_Check(str) || (s = PyUnicode_AsUTF8(str)) == NULL)
	{
		Py_XDECREF(str);
		oml_py_clear_error();	/* a cancel in __str__ is a cancel */
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("could not convert a Python %s to type %s",
						Py_TYPE(obj)->tp_name, format_type_be(typid))));
	}
	{
		/* Copy out of Python first, so an input error leaks nothing. */
		char	   *server = py_str_steal_copy(str, typid);

		if (server == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("could not convert a Python %s to type %s",
							Py_TYPE(obj)->tp_name, format_type_be(typid))));
		getTypeInputInfo(typid, &infn, &ioparam);
		result = OidInputFunctionCall(infn, server, ioparam, typmod);
	}
	return result;
}

/*
 * A growable byte buffer that is a Python bytearray, so numpy can use it
 * without a copy (np.frombuffer).
 */
typedef struct PyBuf
{
	PyObject   *obj;			/* bytearray, NULL until first use */
	Py_ssize_t	len;			/* bytes used */
	Py_ssize_t	cap;			/* bytes allocated (the bytearray's size) */
} PyBuf;

/*
 * Room for n more bytes at the end of buf; returns where to write them.
 */
static inline char *
pybuf_reserve(PyBuf *buf, Py_ssize_t n)
{
	if (buf->len + n > buf->cap)
	{
		Py_ssize_t	cap = Max(buf->cap * 2, 65536);

		while (cap < buf->len + n)
			cap *= 2;
		if (buf->obj == NULL)
			buf->obj = PyByteArray_FromStringAndSize(NULL, cap);
		else if (PyByteArray_Resize(buf->obj, cap) < 0)
			Py_CLEAR(buf->obj);
		if (buf->obj == NULL)
			oml_py_raise(NULL);
		buf->cap = cap;
	}
	return PyByteArray_AS_STRING(buf->obj) + buf->len;
}

/*
 * The filled part of buf as a bytearray (a new reference); buf starts over.
 */
static PyObject *
pybuf_take(PyBuf *buf)
{
	PyObject   *obj = buf->obj;

	if (obj == NULL)
		obj = PyByteArray_FromStringAndSize(NULL, 0);
	else if (PyByteArray_Resize(obj, buf->len) < 0)
	{
		Py_DECREF(obj);
		obj = NULL;
	}
	buf->obj = NULL;
	buf->len = buf->cap = 0;
	if (obj == NULL)
		oml_py_raise(NULL);
	return obj;
}

/*
 * One column being gathered.
 */
typedef struct ColBuf
{
	ColKind		kind;
	Oid			typid;
	bool		via_text;		/* object column converted with outfn */
	FmgrInfo	outfn;
	PyBuf		data;			/* packed values, for every kind but object */
	PyBuf		mask;			/* one byte per row: 1 when NULL */
	bool		has_null;
	PyObject   *objects;		/* list, for COL_OBJECT */
} ColBuf;

struct OmlColumns
{
	TupleDesc	desc;
	int			ncols;
	uint64		nrows;
	ColBuf	   *cols;
};

/*
 * Does oml_datum_to_py convert type typid itself (not through its text)?
 */
static bool
converts_natively(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case JSONOID:
		case XMLOID:
		case NAMEOID:
		case BYTEAOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/*
 * The kind used for a column of type typid.
 */
static ColKind
kind_of(Oid typid)
{
	switch (typid)
	{
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return COL_FLOAT;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return COL_INT;
		case BOOLOID:
			return COL_BOOL;
		case DATEOID:
			return COL_DATE;
		case TIMESTAMPOID:
			return COL_TIMESTAMP;
		case TIMESTAMPTZOID:
			return COL_TIMESTAMPTZ;
		default:
			return COL_OBJECT;
	}
}

/*
 * Start gathering rows of desc.  The Python buffers and lists it holds are
 * released by oml_columns_free.
 */
OmlColumns *
oml_columns_begin(TupleDesc desc)
{
	OmlColumns *cols = palloc0(sizeof(OmlColumns));

	cols->desc = desc;
	cols->ncols = desc->natts;
	cols->cols = palloc0(sizeof(ColBuf) * desc->natts);
	for (int c = 0; c < desc->natts; c++)
	{
		ColBuf	   *cb = &cols->cols[c];

		cb->typid = TupleDescAttr(desc, c)->atttypid;
		cb->kind = kind_of(cb->typid);
		if (cb->kind == COL_OBJECT && !converts_natively(cb->typid))
		{
			Oid			outfn;
			bool		isvarlena;

			/* Look the output function up once, not per value. */
			getTypeOutputInfo(cb->typid, &outfn, &isvarlena);
			fmgr_info(outfn, &cb->outfn);
			cb->via_text = true;
		}
		if (cb->kind == COL_OBJECT)
		{
			cb->objects = PyList_New(0);
			if (cb->objects == NULL)
				oml_py_raise(NULL);
		}
	}
	return cols;
}

/*
 * Append one row given as values and nulls (as a slot has them).
 * Conversions may allocate in the current memory context.
 */
void
oml_columns_add_values(OmlColumns *cols, Datum *values, bool *isnull)
{
	for (int c = 0; c < cols->ncols; c++)
	{
		ColBuf	   *cb = &cols->cols[c];
		Datum		d = values[c];
		bool		null = isnull[c];

		if (cb->kind == COL_OBJECT)
		{
			PyObject   *o;

			if (cb->via_text && !null)
			{
				char	   *text = OutputFunctionCall(&cb->outfn, d);

				o = str_to_py(text, strlen(text));
			}
			else
				o = oml_datum_to_py(d, null, cb->typid);

			if (o == NULL || PyList_Append(cb->objects, o) < 0)
			{
				Py_XDECREF(o);
				oml_py_raise(NULL);
			}
			Py_DECREF(o);
			continue;
		}
		/* Infinite dates and timestamps have no numpy form: NULL. */
		if (!null &&
			((cb->kind == COL_DATE && DATE_NOT_FINITE(DatumGetDateADT(d))) ||
			 ((cb->kind == COL_TIMESTAMP || cb->kind == COL_TIMESTAMPTZ) &&
			  TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d)))))
			null = true;
		*pybuf_reserve(&cb->mask, 1) = null ? 1 : 0;
		cb->mask.len++;
		cb->has_null |= null;
		if (cb->kind == COL_BOOL)
		{
			*pybuf_reserve(&cb->data, 1) = null ? 0 : DatumGetBool(d);
			cb->data.len++;
			continue;
		}
		{
			char	   *p = pybuf_reserve(&cb->data, 8);
			double		f = 0;
			int64		i = 0;
			bool		is_float = false;

			if (!null)
			{
				switch (cb->typid)
				{
					case FLOAT4OID:
						f = DatumGetFloat4(d), is_float = true;
						break;
					case FLOAT8OID:
						f = DatumGetFloat8(d), is_float = true;
						break;
					case NUMERICOID:
						f = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
						is_float = true;
						break;
					case INT2OID:
						i = DatumGetInt16(d);
						break;
					case INT4OID:
						i = DatumGetInt32(d);
						break;
					case DATEOID:
						i = DatumGetDateADT(d);
						break;
					default:	/* int8, timestamps */
						i = DatumGetInt64(d);
						break;
				}
			}
			if (is_float)
				memcpy(p, &f, 8);
			else
				memcpy(p, &i, 8);
			cb->data.len += 8;
		}
	}
	cols->nrows++;
}

/*
 * Append one row given as a heap tuple.
 */
void
oml_columns_add(OmlColumns *cols, HeapTuple tup)
{
	Datum	   *values = palloc(sizeof(Datum) * cols->ncols);
	bool	   *isnull = palloc(sizeof(bool) * cols->ncols);

	heap_deform_tuple(tup, cols->desc, values, isnull);
	oml_columns_add_values(cols, values, isnull);
	pfree(values);
	pfree(isnull);
}

/*
 * How many rows are gathered.
 */
uint64
oml_columns_count(OmlColumns *cols)
{
	return cols->nrows;
}

/*
 * The gathered columns as a Python list of (name, kind, data, nullmask)
 * tuples, data being a bytearray or a list; then start over, empty.
 */
PyObject *
oml_columns_take(OmlColumns *cols)
{
	PyObject   *list = PyList_New(cols->ncols);

	if (list == NULL)
		oml_py_raise(NULL);
	for (int c = 0; c < cols->ncols; c++)
	{
		ColBuf	   *cb = &cols->cols[c];
		PyObject   *data;
		PyObject   *mask;
		PyObject   *item;

		if (cb->kind == COL_OBJECT)
		{
			data = cb->objects;
			cb->objects = PyList_New(0);
			if (cb->objects == NULL)
			{
				Py_DECREF(data);
				Py_DECREF(list);
				oml_py_raise(NULL);
			}
			mask = Py_NewRef(Py_None);
		}
		else
		{
			data = pybuf_take(&cb->data);
			if (cb->has_null)
				mask = pybuf_take(&cb->mask);
			else
			{
				Py_CLEAR(cb->mask.obj);
				cb->mask.len = cb->mask.cap = 0;
				mask = Py_NewRef(Py_None);
			}
			cb->has_null = false;
		}
		item = Py_BuildValue("(ssNN)",
							 NameStr(TupleDescAttr(cols->desc, c)->attname),
							 kind_names[cb->kind], data, mask);
		if (item == NULL)
		{
			Py_DECREF(list);
			oml_py_raise(NULL);
		}
		PyList_SET_ITEM(list, c, item);
	}
	cols->nrows = 0;
	return list;
}

/*
 * Release the Python objects held by cols (safe to call twice).
 */
void
oml_columns_free(OmlColumns *cols)
{
	for (int c = 0; c < cols->ncols; c++)
	{
		Py_CLEAR(cols->cols[c].objects);
		Py_CLEAR(cols->cols[c].data.obj);
		Py_CLEAR(cols->cols[c].mask.obj);
	}
}

/*
 * A DestReceiver that gathers a query's rows straight into columns.
 */
typedef struct ColumnsDest
{
	DestReceiver pub;
	MemoryContext cxt;			/* where the columns live */
	MemoryContext rowcxt;		/* per-row conversions, reset often */
	OmlColumns *cols;
	uint64		n;
} ColumnsDest;

static void
cd_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	ColumnsDest *d = (ColumnsDest *) self;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);

	d->cols = oml_columns_begin(CreateTupleDescCopy(typeinfo));
	MemoryContextSwitchTo(old);
}

static bool
cd_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ColumnsDest *d = (ColumnsDest *) self;
	MemoryContext old = MemoryContextSwitchTo(d->rowcxt);

	slot_getallattrs(slot);
	oml_columns_add_values(d->cols, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	if ((++d->n & 1023) == 0)
	{
		MemoryContextReset(d->rowcxt);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

static void
cd_noop(DestReceiver *self)
{
}

/*
 * Run a prepared statement and return its rows as columns (see
 * oml_columns_take), gathered as the executor produces them, with no copy
 * into an SPI tuple table.  Returns NULL for a statement without rows.
 * *rc gets SPI's result code.
 */
PyObject *
oml_execute_to_columns(SPIPlanPtr plan, ParamListInfo params, int *rc)
{
	ColumnsDest d;
	SPIExecuteOptions options;
	PyObject   *volatile result = NULL;

	memset(&d, 0, sizeof(d));
	d.pub.receiveSlot = cd_receive;
	d.pub.rStartup = cd_startup;
	d.pub.rShutdown = cd_noop;
	d.pub.rDestroy = cd_noop;
	d.pub.mydest = DestNone;
	d.cxt = CurrentMemoryContext;
	d.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "oml_store query rows",
									 ALLOCSET_DEFAULT_SIZES);
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = false;
	options.dest = &d.pub;
	PG_TRY();
	{
		*rc = SPI_execute_plan_extended(plan, &options);
		if (*rc >= 0 && d.cols != NULL)
			result = oml_columns_take(d.cols);
	}
	PG_FINALLY();
	{
		if (d.cols)
			oml_columns_free(d.cols);
		MemoryContextDelete(d.rowcxt);
	}
	PG_END_TRY();
	return result;
}

/*
 * A whole SPI result as columns.
 */
PyObject *
oml_spi_result_to_columns(SPITupleTable *tuptable, uint64 nrows)
{
	OmlColumns *volatile cols = oml_columns_begin(tuptable->tupdesc);
	PyObject   *volatile result = NULL;

	PG_TRY();
	{
		for (uint64 r = 0; r < nrows; r++)
		{
			CHECK_FOR_INTERRUPTS();
			oml_columns_add(cols, tuptable->vals[r]);
		}
		result = oml_columns_take(cols);
	}
	PG_FINALLY();
	{
		oml_columns_free(cols);
	}
	PG_END_TRY();
	return result;
}
