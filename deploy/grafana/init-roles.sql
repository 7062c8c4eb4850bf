-- Roles for deploy/docker-compose.yml, run once by PostgreSQL's entrypoint
-- (/docker-entrypoint-initdb.d) when the data volume is first created. The
-- collector's `--migrate` then creates fleetprof_reader/_writer and the
-- tables; the login roles below are made members here so that no grant is
-- needed afterwards. Demo passwords: change them (and the compose file)
-- before exposing anything.
CREATE ROLE fleetprof_reader NOLOGIN;
CREATE ROLE fleetprof_writer NOLOGIN;
CREATE ROLE collector LOGIN PASSWORD 'collector' IN ROLE fleetprof_writer;
CREATE ROLE grafana LOGIN PASSWORD 'grafana' IN ROLE fleetprof_reader;
-- Every session of the dashboard login runs as the read-only role.
ALTER ROLE grafana SET role = 'fleetprof_reader';
-- The collector migrates: it owns the schema objects it creates.
GRANT CREATE ON SCHEMA public TO collector;
ALTER DATABASE fleetprof OWNER TO collector;
