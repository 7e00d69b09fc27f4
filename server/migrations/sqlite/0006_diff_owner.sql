-- Each diff remembers the user whose page reported it, so a trader can be shown their own pages'
-- diffs and never another's. Diffs from before this migration have no owner: operators only.
ALTER TABLE cutover_diffs ADD COLUMN user_id INTEGER;
CREATE INDEX cutover_diffs_by_user ON cutover_diffs (user_id, feature, id);
