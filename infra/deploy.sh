#!/usr/bin/env bash
# deploy.sh — what `make deploy` runs: deploy infra/main.bicep into a resource
# group, grant the app identity its PostgreSQL role (infra/sql/grant-app-role.sql),
# and deploy the package built by `make package`. See infra/DEPLOY.md.
#
# Usage: infra/deploy.sh [deploy|validate]
#   deploy    (default) everything above
#   validate  az bicep build + az deployment group what-if; changes nothing
#
# Configuration (environment):
#   ORDERFLOW_RESOURCE_GROUP  resource group (required); created if missing
#   ORDERFLOW_LOCATION        region for a new resource group
#   ORDERFLOW_PARAMS          parameters file (default infra/main.bicepparam)
#   ORDERFLOW_PACKAGE         zip to deploy (default dist/app.zip)
#   ORDERFLOW_DEPLOYMENT      deployment name (default orderflow)
#   ORDERFLOW_CLIENT_IP       your public IP: opens PostgreSQL to it for the
#                             SQL step only (not needed in Azure Cloud Shell)
#   ORDERFLOW_PREFIX, ORDERFLOW_PLAN, ORDERFLOW_BROKER, ORDERFLOW_SMTP_*,
#   ORDERFLOW_RABBITMQ_CONNECTION, ORDERFLOW_PG_ADMIN_OBJECT_ID/_NAME
#                             read by main.bicepparam (PG admin defaults to you)
set -euo pipefail

die() {
	echo "deploy.sh: $*" >&2
	exit 1
}

# First, before any other external command: without az nothing can work.
if ! command -v az >/dev/null 2>&1; then
	echo "deploy.sh: the Azure CLI ('az') is not on PATH, so nothing was deployed." >&2
	echo "deploy.sh: install the Azure CLI, run 'az login', then run 'make deploy' again (see infra/DEPLOY.md)." >&2
	exit 127
fi

mode=${1:-deploy}
case $mode in
deploy | validate) ;;
*) die "unknown mode '$mode' (want deploy or validate)" ;;
esac

here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
infra=$(cd "$here" && pwd)
root=$(cd "$infra/.." && pwd)

rg=${ORDERFLOW_RESOURCE_GROUP:-}
[ -n "$rg" ] || die "set ORDERFLOW_RESOURCE_GROUP to the target resource group"
params=${ORDERFLOW_PARAMS:-$infra/main.bicepparam}
package=${ORDERFLOW_PACKAGE:-$root/dist/app.zip}
deployment=${ORDERFLOW_DEPLOYMENT:-orderflow}
export ORDERFLOW_PLAN=${ORDERFLOW_PLAN:-flex}
export ORDERFLOW_BROKER=${ORDERFLOW_BROKER:-servicebus}

# The same rules main.bicep enforces with fail(), checked before any work.
if [ "$ORDERFLOW_BROKER" = rabbitmq ]; then
	[ "$ORDERFLOW_PLAN" = premium ] || die "ORDERFLOW_BROKER=rabbitmq needs ORDERFLOW_PLAN=premium (Flex Consumption has no RabbitMQ trigger)"
	[ -n "${ORDERFLOW_RABBITMQ_CONNECTION:-}" ] || die "ORDERFLOW_BROKER=rabbitmq needs ORDERFLOW_RABBITMQ_CONNECTION (amqps:// URI or @Microsoft.KeyVault(...) reference)"
fi
if [ "$mode" = deploy ]; then
	[ -f "$package" ] || die "package $package not found: run 'make package' first"
fi

az account show --query id -o tsv >/dev/null 2>&1 || die "not signed in: run 'az login' (and 'az account set -s <subscription>')"

if [ -z "${ORDERFLOW_PG_ADMIN_OBJECT_ID:-}" ]; then
	ORDERFLOW_PG_ADMIN_OBJECT_ID=$(az ad signed-in-user show --query id -o tsv)
	ORDERFLOW_PG_ADMIN_NAME=$(az ad signed-in-user show --query userPrincipalName -o tsv)
	export ORDERFLOW_PG_ADMIN_OBJECT_ID ORDERFLOW_PG_ADMIN_NAME
	echo "PostgreSQL Entra admin: $ORDERFLOW_PG_ADMIN_NAME (you)"
fi
[ -n "${ORDERFLOW_PG_ADMIN_NAME:-}" ] || die "set ORDERFLOW_PG_ADMIN_NAME along with ORDERFLOW_PG_ADMIN_OBJECT_ID"

if ! az group show -n "$rg" >/dev/null 2>&1; then
	[ -n "${ORDERFLOW_LOCATION:-}" ] || die "resource group $rg does not exist: set ORDERFLOW_LOCATION to create it"
	echo "creating resource group $rg in $ORDERFLOW_LOCATION"
	az group create -n "$rg" -l "$ORDERFLOW_LOCATION" -o none
fi

if [ "$mode" = validate ]; then
	echo "== az bicep build (compiler errors and linter warnings)"
	az bicep build --file "$infra/main.bicep" --stdout >/dev/null
	echo "== az deployment group what-if"
	az deployment group what-if -g "$rg" -n "$deployment" --parameters "$params"
	exit 0
fi

echo "== deploying infra/main.bicep to $rg (plan $ORDERFLOW_PLAN, broker $ORDERFLOW_BROKER)"
az deployment group create -g "$rg" -n "$deployment" --parameters "$params" -o none

out() { az deployment group show -g "$rg" -n "$deployment" --query "properties.outputs.$1.value" -o tsv; }
app=$(out functionAppName)
plan=$(out plan)
pg_host=$(out postgresHost)
pg_server=$(out postgresServerName)
pg_db=$(out postgresDatabase)
identity=$(out identityName)
storage=$(out storageAccountName)

echo "== granting $identity its PostgreSQL role in $pg_db"
grant=(psql "host=$pg_host dbname=postgres user=$ORDERFLOW_PG_ADMIN_NAME sslmode=require"
	-v ON_ERROR_STOP=1 -v "app_role=$identity" -v "app_db=$pg_db" -f "$infra/sql/grant-app-role.sql")
if command -v psql >/dev/null 2>&1; then
	if [ -n "${ORDERFLOW_CLIENT_IP:-}" ]; then
		az postgres flexible-server firewall-rule create -g "$rg" -n "$pg_server" -r deploy-sql-step \
			--start-ip-address "$ORDERFLOW_CLIENT_IP" --end-ip-address "$ORDERFLOW_CLIENT_IP" -o none
		trap 'az postgres flexible-server firewall-rule delete -g "$rg" -n "$pg_server" -r deploy-sql-step --yes -o none || true' EXIT
	fi
	PGPASSWORD=$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)
	export PGPASSWORD
	"${grant[@]}"
	unset PGPASSWORD
else
	echo "deploy.sh: psql not found; run this SQL step yourself before the app can reach its database:" >&2
	echo "  PGPASSWORD=\$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv) ${grant[*]}" >&2
fi

echo "== deploying $package to $app ($plan)"
if [ "$plan" = flex ]; then
	# Flex Consumption: the platform stores the zip in the deployment container.
	az functionapp deployment source config-zip -g "$rg" -n "$app" --src "$package" -o none
else
	# Elastic Premium: WEBSITE_RUN_FROM_PACKAGE points at this blob, read by
	# the app identity. Uploading needs a data role for you on the account.
	me=$(az ad signed-in-user show --query id -o tsv)
	account_id=$(az storage account show -g "$rg" -n "$storage" --query id -o tsv)
	az role assignment create --assignee-object-id "$me" --assignee-principal-type User \
		--role "Storage Blob Data Contributor" --scope "$account_id" -o none
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		if az storage blob upload --auth-mode login --account-name "$storage" -c app-package -n handler.zip \
			-f "$package" --overwrite -o none 2>/dev/null; then
			break
		fi
		[ "$attempt" -lt 10 ] || die "upload to $storage/app-package failed (role assignment not effective yet?): retry 'make deploy'"
		echo "waiting for the role assignment to take effect ($attempt/10)"
		sleep 30
	done
	az functionapp restart -g "$rg" -n "$app" -o none
fi

echo "deployed: $(out functionAppUrl)/api/products"
