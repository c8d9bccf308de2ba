-- A chapter's scenes, a page at a time (GET .../chapters/{id}/images/scenes):
-- the newest record of each scene by scene number. In this order one index
-- walk finds them, scene after scene, newest first within a scene, and stops
-- after a page: a chapter of 10,000 scenes costs a page's worth of entries,
-- not the chapter's. (id breaks a tie of created_at, as the status page does.)
--
-- Built inside the migration's transaction (no CONCURRENTLY), which holds
-- writes to image_generations for as long as the build takes: on a large
-- old table, create it by hand first with CREATE INDEX CONCURRENTLY under
-- this name, and this file then changes nothing.

CREATE INDEX IF NOT EXISTS idx_image_generations_chapter_scene_newest
	ON image_generations (chapter_id, scene_number, created_at DESC, id DESC);
