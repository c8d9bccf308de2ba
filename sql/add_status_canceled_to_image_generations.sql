-- A record its owner canceled (POST /api/v1/records/{id}/cancel) has the
-- status 'canceled', a final state like 'completed' and 'failed': it never
-- changes again, and never gets an image. The daemon's writes are all
-- guarded by status = 'in_progress', so a canceled row refuses them.

ALTER TABLE image_generations DROP CONSTRAINT IF EXISTS
	image_generations_status_check;
ALTER TABLE image_generations ADD CONSTRAINT image_generations_status_check
	CHECK (status IN ('pending', 'in_progress', 'completed', 'failed',
	    'canceled'))
	NOT VALID;

-- The guard of add_job_columns_to_image_generations.sql, with 'canceled'
-- among the final states.
CREATE OR REPLACE FUNCTION image_generations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('scenegen.allow_reset', true) = 'on' THEN
		NEW.updated_at := now();
		RETURN NEW;
	END IF;
	IF OLD.status IN ('completed', 'failed', 'canceled') AND
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
