-- The application role's privileges, (re)applied after every `msreg init` (docs/deploy.md):
--
--   psql "postgresql://msreg_owner@127.0.0.1/msreg" -v app=msreg_app -f deploy/postgres/grants.sql
--
-- Run as the owner role. The app may read and write the registry's records, read and APPEND
-- the audit trail (no UPDATE, DELETE, TRUNCATE, TRIGGER: the append-only triggers stay in
-- force and only the owner could disable them), and read but never change the schema version.
\set ON_ERROR_STOP on

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";

REVOKE ALL ON audit_log FROM :"app";
GRANT SELECT, INSERT ON audit_log TO :"app";

REVOKE ALL ON alembic_version FROM :"app";
GRANT SELECT ON alembic_version TO :"app";
