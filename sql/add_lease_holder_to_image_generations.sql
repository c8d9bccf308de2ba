-- Who holds a record's lease: "<boot id>/<pid namespace>/<pid>" of the
-- scenegend process that claimed it (NULL for claims made before this
-- column, or where /proc could not say). A daemon started on the same
-- machine that finds the holder's process gone resumes the record at
-- once instead of waiting out the lease; see scenegend(8), "Leases".

ALTER TABLE image_generations
	ADD COLUMN IF NOT EXISTS lease_holder text;
