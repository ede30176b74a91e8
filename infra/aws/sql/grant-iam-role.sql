-- grant-iam-role.sql: the one SQL step after `make deploy-aws`.
-- Run it as the RDS admin (orderflow_admin; its password is in the
-- RDS-managed secret, stack output DatabaseAdminSecret), connected to the
-- application database, from a host inside the VPC (the database is not
-- public), with psql variables:
--   app_role  the functions' role (template parameter DatabaseUser)
--   app_db    the application database (template parameter DatabaseName)
-- For example:
--   psql "host=<DatabaseEndpoint> dbname=orders user=orderflow_admin sslmode=require" \
--     -v ON_ERROR_STOP=1 -v app_role=orderflow_app -v app_db=orders -f infra/aws/sql/grant-iam-role.sql
--
-- It creates the role, lets it log in with IAM tokens only (rds_iam), lets
-- it connect to the application database and create the app's tables in
-- schema public (the functions migrate their own schema at start). Nothing
-- else: no CREATEDB, no rds_superuser. Running it twice is safe.

\set ON_ERROR_STOP on

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') AS create_role \gset
\if :create_role
CREATE ROLE :"app_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
\endif
GRANT rds_iam TO :"app_role";
GRANT CONNECT, TEMPORARY ON DATABASE :"app_db" TO :"app_role";
GRANT USAGE, CREATE ON SCHEMA public TO :"app_role";
