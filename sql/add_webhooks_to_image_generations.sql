-- Completion webhooks (SPEC.md, "Completion webhooks"): where a record's
-- owner wants to hear of its changes, and an outbox of deliveries filled
-- by a trigger in the same transaction as the change itself, whoever
-- makes it (the daemon, a cancel through the API, scenegenctl retry).
-- scenegend sends what is pending and records each attempt here.

ALTER TABLE image_generations ADD COLUMN IF NOT EXISTS webhook_url text;
ALTER TABLE image_generations ADD COLUMN IF NOT EXISTS webhook_events text[]
	NOT NULL DEFAULT ARRAY['completed', 'failed', 'canceled'];

CREATE TABLE IF NOT EXISTS webhook_deliveries (
	id		 bigserial PRIMARY KEY,
	record_id	 uuid NOT NULL REFERENCES image_generations (id)
			 ON DELETE CASCADE,
	event		 text NOT NULL CHECK (event IN ('in_progress',
			 'completed', 'failed', 'canceled')),
	webhook_id	 text NOT NULL UNIQUE,
	payload		 jsonb NOT NULL,
	attempts	 integer NOT NULL DEFAULT 0,
	next_attempt_at	 timestamptz NOT NULL DEFAULT now(),
	status		 text NOT NULL DEFAULT 'pending' CHECK (status IN
			 ('pending', 'delivered', 'failed', 'gone')),
	last_status_code integer,
	last_error	 text,
	created_at	 timestamptz NOT NULL DEFAULT now(),
	delivered_at	 timestamptz
);

-- What is due, and a record's earlier pending deliveries (the order).
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_due
	ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_record
	ON webhook_deliveries (record_id, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_failed
	ON webhook_deliveries (id) WHERE status = 'failed';

-- The status document of a record, as the API writes it (cgi/status.c)
-- but for events_url, which needs the API's signing key. While in
-- progress, estimated_time_seconds is what is left of the provider's
-- ETA (30 s when it gave none), at least 1; null once final.
CREATE OR REPLACE FUNCTION image_generation_document(g image_generations)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
	    'record_id', g.id,
	    'chapter_id', g.chapter_id,
	    'status', g.status,
	    'image_url', g.image_url,
	    'scene_number', g.scene_number,
	    'retry_count', GREATEST(COALESCE(g.retry_count, 0), 0),
	    'progress', GREATEST(COALESCE(g.progress, 0), 0),
	    'generation_time_seconds', COALESCE(g.generation_time_seconds,
		CASE WHEN jsonb_typeof(g.metadata->'generation_time') = 'number'
		THEN (g.metadata->>'generation_time')::float8 END),
	    'error_message', g.error_message,
	    'created_at', to_char(g.created_at AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	    'updated_at', to_char(g.updated_at AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	    'estimated_time_seconds', CASE WHEN g.status = 'in_progress' THEN
		LEAST(86400, GREATEST(1, ceil(COALESCE(g.provider_eta_seconds,
		30) - COALESCE(EXTRACT(EPOCH FROM clock_timestamp() -
		COALESCE(g.provider_submitted_at, g.last_attempted_at)), 0))))
		::integer END)
$$;

-- One delivery per change of status the record subscribed to; the
-- daemons are woken by a notification on scenegen_webhooks.
CREATE OR REPLACE FUNCTION image_generations_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status = ANY (NEW.webhook_events) THEN
		INSERT INTO webhook_deliveries (record_id, event, webhook_id,
		    payload)
		VALUES (NEW.id, NEW.status,
		    'msg_' || replace(gen_random_uuid()::text, '-', ''),
		    jsonb_build_object('type', 'scene.' || NEW.status,
			'timestamp', to_char(clock_timestamp() AT TIME ZONE
			'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
			'data', image_generation_document(NEW)));
		PERFORM pg_notify('scenegen_webhooks', '');
	END IF;
	RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS image_generations_webhook ON image_generations;
CREATE TRIGGER image_generations_webhook
	AFTER UPDATE OF status ON image_generations
	FOR EACH ROW
	WHEN (NEW.webhook_url IS NOT NULL AND
	    NEW.status IS DISTINCT FROM OLD.status)
	EXECUTE FUNCTION image_generations_webhook();
