-- pg_temp.expect_error(stmt): run a statement that must fail and print
-- "SQLSTATE: message" (object ids masked as N) and any DETAIL and HINT;
-- "no error" if it did not fail.  Included by the regression tests.
CREATE FUNCTION pg_temp.expect_error(stmt text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	EXECUTE stmt;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN NEXT st || ': ' || regexp_replace(msg, '(with id|datastore object) [0-9]+', '\1 N', 'g');
	IF det <> '' THEN RETURN NEXT 'DETAIL: ' || det; END IF;
	IF hnt <> '' THEN RETURN NEXT 'HINT: ' || hnt; END IF;
END
$$;
