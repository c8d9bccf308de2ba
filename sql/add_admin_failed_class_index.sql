-- The dashboard's filter by error class (cgi/db.c, ADMIN_CLASS_SQL: the
-- message with every run of digits as N, cut to 120 characters) on the
-- failed records: its records page and the count its bulk retry confirms
-- look the class up here instead of computing it for every failed row.
-- Newest first within a class (updated_at), like the records page.
CREATE INDEX IF NOT EXISTS idx_image_generations_failed_class
	ON image_generations ((left(regexp_replace(COALESCE(error_message,
	    '(no message)'), '[0-9]+', 'N', 'g'), 120)), updated_at)
	WHERE status = 'failed';
