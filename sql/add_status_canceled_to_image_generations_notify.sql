-- A cancel wakes the daemon that runs the record at once: a change of
-- status to canceled, whoever makes it (the API, scenegenctl, the
-- dashboard), notifies scenegen_cancels with the record's id on commit.
-- scenegend listens and stops the job then, instead of at its next write
-- or heartbeat (which still catch a notification missed while a daemon
-- was reconnecting).

CREATE OR REPLACE FUNCTION image_generations_canceled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('scenegen_cancels', NEW.id::text);
	RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS image_generations_canceled ON image_generations;
CREATE TRIGGER image_generations_canceled
	AFTER UPDATE OF status ON image_generations
	FOR EACH ROW
	WHEN (NEW.status = 'canceled' AND OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION image_generations_canceled();
