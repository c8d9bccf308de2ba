-- What the generation daemon keeps in the row, so that PostgreSQL alone
-- says where every job stands (Redis only rings the bell):
--   tier                 the caller's plan, from the token
--   idempotency_key      the client's Idempotency-Key, unique per user
--   attempts             claims so far (a crash counts as one)
--   lease_token/_expires the claim of the worker that holds the job
--   next_attempt_at      when a retry is due
--   provider_request_id  the provider's id, stored as soon as it is known
--   generation_time_seconds, completed_at

ALTER TABLE image_generations
	ADD COLUMN IF NOT EXISTS tier text NOT NULL DEFAULT 'free',
	ADD COLUMN IF NOT EXISTS idempotency_key text,
	ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
	ADD COLUMN IF NOT EXISTS lease_token uuid,
	ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
	ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz,
	ADD COLUMN IF NOT EXISTS provider_request_id text,
	ADD COLUMN IF NOT EXISTS provider_submitted_at timestamptz,
	ADD COLUMN IF NOT EXISTS provider_eta_seconds double precision,
	ADD COLUMN IF NOT EXISTS generation_time_seconds double precision,
	ADD COLUMN IF NOT EXISTS completed_at timestamptz;

UPDATE image_generations SET progress = 0 WHERE progress IS NULL;
ALTER TABLE image_generations ALTER COLUMN progress SET NOT NULL;

-- Checked for new and changed rows; rows of the old system are left as
-- they are (NOT VALID), whatever status words they used.
ALTER TABLE image_generations DROP CONSTRAINT IF EXISTS
	image_generations_status_check;
ALTER TABLE image_generations ADD CONSTRAINT image_generations_status_check
	CHECK (status IN ('pending', 'in_progress', 'completed', 'failed'))
	NOT VALID;
ALTER TABLE image_generations DROP CONSTRAINT IF EXISTS
	image_generations_progress_check;
ALTER TABLE image_generations ADD CONSTRAINT image_generations_progress_check
	CHECK (progress BETWEEN 0 AND 100) NOT VALID;

CREATE UNIQUE INDEX IF NOT EXISTS idx_image_generations_user_idempotency
	ON image_generations (user_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
-- The sweeper's scan: unfinished rows only.
CREATE INDEX IF NOT EXISTS idx_image_generations_unfinished
	ON image_generations (next_attempt_at)
	WHERE status IN ('pending', 'in_progress');

-- Promise: a final state is set once, status and progress never move
-- backwards. Enforced here so that no code path can break it. An
-- administrator's deliberate retry sets scenegen.allow_reset = 'on' for
-- its transaction.
CREATE OR REPLACE FUNCTION image_generations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('scenegen.allow_reset', true) = 'on' THEN
		NEW.updated_at := now();
		RETURN NEW;
	END IF;
	IF OLD.status IN ('completed', 'failed') AND
	    (NEW.status IS DISTINCT FROM OLD.status OR
	     NEW.image_url IS DISTINCT FROM OLD.image_url OR
	     NEW.error_message IS DISTINCT FROM OLD.error_message) THEN
		RAISE EXCEPTION 'record % is final (%)', OLD.id, OLD.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF OLD.status = 'in_progress' AND NEW.status = 'pending' THEN
		RAISE EXCEPTION 'record % cannot go back to pending', OLD.id
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.progress < OLD.progress THEN
		NEW.progress := OLD.progress;
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS image_generations_guard ON image_generations;
CREATE TRIGGER image_generations_guard
	BEFORE UPDATE ON image_generations
	FOR EACH ROW EXECUTE FUNCTION image_generations_guard();
