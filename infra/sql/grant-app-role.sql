-- grant-app-role.sql: the one SQL step after `az deployment group create`.
-- Run it as the server's Microsoft Entra administrator (the principal given
-- as postgresAdminObjectId/postgresAdminName), connected to database
-- "postgres", with psql variables:
--   app_role  the managed identity's name (deployment output identityName)
--   app_db    the application database (deployment output postgresDatabase)
-- deploy.sh runs it like this:
--   PGPASSWORD="$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)" \
--   psql "host=<postgresHost> dbname=postgres user=<admin name> sslmode=require" \
--     -v ON_ERROR_STOP=1 -v app_role=<identityName> -v app_db=<postgresDatabase> -f infra/sql/grant-app-role.sql
--
-- It maps the identity to a PostgreSQL role (Entra service principal,
-- neither admin nor MFA) and lets that role connect to the application
-- database and create the app's tables in schema public (the handler
-- migrates its own schema at start). Nothing else: no CREATEDB, no
-- azure_pg_admin membership, no other database. Running it twice is safe.

\set ON_ERROR_STOP on

-- pgaadauth_create_principal(role, isAdmin, isMfa) exists only in database
-- "postgres". Skip it when the role is already there (re-runs).
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') AS create_role \gset
\if :create_role
SELECT * FROM pgaadauth_create_principal(:'app_role', false, false);
\endif

GRANT CONNECT, TEMPORARY ON DATABASE :"app_db" TO :"app_role";

\connect :app_db
GRANT USAGE, CREATE ON SCHEMA public TO :"app_role";
