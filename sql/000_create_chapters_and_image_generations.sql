-- Base tables as the system scenegen replaces had them. On a database that
-- already holds them (an old installation) nothing here changes anything;
-- the migrations after this one upgrade them in place.

CREATE TABLE IF NOT EXISTS chapters (
	id		uuid PRIMARY KEY,
	user_id		uuid NOT NULL,
	title		text,
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_chapters_user_id ON chapters (user_id);

-- The old table: no chapter_id, retry_count, last_attempted_at or progress,
-- and image_type NOT NULL without a default.
CREATE TABLE IF NOT EXISTS image_generations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL,
	scene_number	integer,
	script_id	uuid,
	image_type	text NOT NULL,
	status		text NOT NULL DEFAULT 'pending',
	image_url	text,
	error_message	text,
	prompt		text,
	style		text,
	aspect_ratio	text,
	metadata	jsonb NOT NULL DEFAULT '{}'::jsonb,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
