-- Webhook bodies are built by scenegend with the API's own status document
-- builder (lib/status_doc.c), so a webhook's data has every field of the
-- API's document, events_url included, and there is one builder, not a
-- second one in SQL. The trigger now stores the row as it was at the
-- change (payload.row) with the event's type and time; scenegend writes
-- the body from them, the same bytes on every attempt (the estimate and
-- the events_url's expiry count from the event's time, not the send's).
-- Deliveries stored before this migration keep their built body
-- (payload.data) and are sent as they are.

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
			'row', to_jsonb(NEW)));
		PERFORM pg_notify('scenegen_webhooks', '');
	END IF;
	RETURN NULL;
END;
$$;

DROP FUNCTION IF EXISTS image_generation_document(image_generations);
