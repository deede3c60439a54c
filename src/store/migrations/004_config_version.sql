-- Keeps the version strings of both stores in step (one version names the schema). The embedded store adds a
-- config change counter here (sqlite/004_config_version.sql) because its change poll cannot tell usage commits
-- from config commits; Postgres announces config changes with NOTIFY, so nothing changes in this schema.
select 1;
