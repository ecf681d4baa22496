-- The application role's privileges, (re)applied after every `msreg init` (docs/deploy.md):
--
--   psql "postgresql://msreg_owner@127.0.0.1/msreg" -v app=msreg_app -f deploy/postgres/grants.sql
--
-- Run as the owner role. The app may read and write the registry's records; it may read and
-- APPEND to the audit trail and the access log (no UPDATE, DELETE, TRUNCATE, TRIGGER: the
-- append-only triggers stay in force and only the owner could disable them); it may read but
-- never change the schema version. Tables a migration adds get no rights until this runs
-- again (fail closed: the app errors rather than holding too much).
\set ON_ERROR_STOP on

SELECT set_config('msreg.app_role', :'app', false) AS app_role \gset

DO $$
DECLARE
    app text := current_setting('msreg.app_role');
    t text;
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', app);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', app);
    FOREACH t IN ARRAY ARRAY['audit_log', 'access_log'] LOOP  -- append-only tables
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('REVOKE ALL ON public.%I FROM %I', t, app);
            EXECUTE format('GRANT SELECT, INSERT ON public.%I TO %I', t, app);
        END IF;
    END LOOP;
    EXECUTE format('REVOKE ALL ON public.alembic_version FROM %I', app);
    EXECUTE format('GRANT SELECT ON public.alembic_version TO %I', app);
END
$$;
