-- Upgrade of the old image_generations table in place: the columns the
-- scene endpoints need, and their indexes. Safe to run on a table that
-- already has them.

ALTER TABLE image_generations
	ADD COLUMN IF NOT EXISTS chapter_id uuid,
	ADD COLUMN IF NOT EXISTS retry_count integer NOT NULL DEFAULT 0,
	ADD COLUMN IF NOT EXISTS last_attempted_at timestamptz,
	ADD COLUMN IF NOT EXISTS progress integer DEFAULT 0;

ALTER TABLE image_generations ALTER COLUMN image_type DROP NOT NULL;
ALTER TABLE image_generations ALTER COLUMN image_type SET DEFAULT 'scene';

CREATE INDEX IF NOT EXISTS idx_image_generations_chapter_id
	ON image_generations (chapter_id);
CREATE INDEX IF NOT EXISTS idx_image_generations_chapter_scene
	ON image_generations (chapter_id, scene_number);
CREATE INDEX IF NOT EXISTS idx_image_generations_retry_count
	ON image_generations (retry_count);
CREATE INDEX IF NOT EXISTS idx_image_generations_status
	ON image_generations (status);
