-- The registry's database and its two roles (docs/deploy.md). Run once, as a superuser:
--
--   sudo -u postgres psql -v owner=msreg_owner -v app=msreg_app -v db=msreg -f deploy/postgres/roles.sql
--
-- owner: owns the schema; `msreg init` (migrations) and `msreg restore` connect as it.
-- app:   the dashboard, imports, backups and every other command connect as it; it may read
--        and append the audit trail and nothing more (deploy/postgres/grants.sql).
-- Set their passwords afterwards with \password (never on a command line).
\set ON_ERROR_STOP on

CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE :"db" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;

-- Nobody else may connect; the app only connects and uses the schema.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";

\connect :"db"
-- The owner role owns the schema its migrations create tables in.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Table privileges come from grants.sql, run after `msreg init` (no default privileges:
-- a table a later migration adds stays closed to the app until grants.sql runs again).
