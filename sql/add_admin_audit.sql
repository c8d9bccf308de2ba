-- The operator dashboard's audit (scenegen-api(8), "Dashboard"): one row
-- per action an operator took from /admin/, written in the transaction of
-- the action itself. Append-only: a trigger refuses UPDATE, DELETE and
-- TRUNCATE for every role, the owner and superusers included (a REVOKE
-- would not bind them).
--   role        'operator' (the only role that may act)
--   token_fp    the first 16 hex digits of the SHA-256 of the token used
--   action      'retry' or 'cancel'
--   record_id   the one record acted on; NULL for a filter
--   filter      the filter of a bulk action, as the form gave it
--   expected    the count the operator confirmed; affected what changed

CREATE TABLE IF NOT EXISTS admin_audit (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	role		text NOT NULL CHECK (role IN ('operator', 'readonly')),
	token_fp	text NOT NULL,
	action		text NOT NULL CHECK (action IN ('retry', 'cancel')),
	record_id	uuid,
	filter		jsonb,
	expected	integer,
	affected	integer NOT NULL,
	remote_addr	text
);

CREATE INDEX IF NOT EXISTS idx_admin_audit_at ON admin_audit (at);

CREATE OR REPLACE FUNCTION admin_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'admin_audit is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS admin_audit_append_only ON admin_audit;
CREATE TRIGGER admin_audit_append_only
	BEFORE UPDATE OR DELETE ON admin_audit
	FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
DROP TRIGGER IF EXISTS admin_audit_no_truncate ON admin_audit;
CREATE TRIGGER admin_audit_no_truncate
	BEFORE TRUNCATE ON admin_audit
	FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();

-- The dashboard's last-hour chart and its newest-first listing.
CREATE INDEX IF NOT EXISTS idx_image_generations_updated_at
	ON image_generations (updated_at);
-- Its failures by error class: the failed rows only.
CREATE INDEX IF NOT EXISTS idx_image_generations_failed
	ON image_generations (updated_at) WHERE status = 'failed';
