package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/functions/app"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

const (
	entraClientID = "11111111-2222-3333-4444-555555555555"
	entraToken    = "mi-token-for-postgres"
	// postgresResource is EntraScope without "/.default", as managed
	// identity endpoints take it.
	postgresResource = "https://ossrdbms-aad.database.windows.net"
)

// identityEndpoint is a loopback stand-in for the managed identity endpoint
// that App Service and Azure Functions give a process (IDENTITY_ENDPOINT +
// IDENTITY_HEADER, read by azidentity's ManagedIdentityCredential). It
// issues entraToken for the PostgreSQL resource to entraClientID only.
type identityEndpoint struct {
	srv    *httptest.Server
	header string

	mu       sync.Mutex
	requests []string // "client_id resource" of every request
}

func (e *identityEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e.mu.Lock()
	e.requests = append(e.requests, q.Get("client_id")+" "+q.Get("resource"))
	e.mu.Unlock()
	if r.Header.Get("X-IDENTITY-HEADER") != e.header || q.Get("client_id") != entraClientID || q.Get("resource") != postgresResource {
		http.Error(w, `{"error":"invalid_request","error_description":"unknown identity or resource"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": entraToken, "expires_in": 3600, "token_type": "Bearer",
		"resource": postgresResource, "client_id": entraClientID})
}

func (e *identityEndpoint) Requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

type entraBundle struct {
	process
	proxy    *storetest.AuthProxy
	identity *identityEndpoint
	role     string
	database string
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// setupEntra starts the handler with the identity-based app settings the
// Bicep template sets (POSTGRES_HOST/DATABASE/USER, POSTGRES_AUTH=entra,
// AZURE_CLIENT_ID, ServiceBusConnection__*), no DATABASE_URL and no
// connection string, plus the managed identity endpoint variables the
// platform injects. PostgreSQL is reached through the token-checking proxy
// (sslmode=disable, the one test-only setting) in front of a database and
// role provisioned as in Azure; Service Bus points at a closed loopback
// port, so the broker check fails fast and nothing leaves the machine.
func setupEntra(t *testing.T) entraBundle {
	t.Helper()
	database, role := storetest.EntraDatabase(t)
	proxy := storetest.StartAuthProxy(t)
	proxy.Accept(entraToken)
	id := &identityEndpoint{header: rand.Text()}
	id.srv = httptest.NewServer(id)
	t.Cleanup(id.srv.Close)

	port := freePort(t)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(setting.Names(), name) && !strings.HasPrefix(name, "AZURE_") && !strings.HasPrefix(name, "IDENTITY_") && !strings.HasPrefix(name, "MSI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"POSTGRES_AUTH=entra",
		"POSTGRES_HOST="+proxy.Host(),
		"POSTGRES_PORT="+strconv.Itoa(proxy.Port()),
		"POSTGRES_DATABASE="+database,
		"POSTGRES_USER="+role,
		"POSTGRES_SSLMODE=disable",
		"AZURE_CLIENT_ID="+entraClientID,
		"BROKER=servicebus",
		"ServiceBusConnection__fullyQualifiedNamespace="+closedAddr(t),
		"ServiceBusConnection__credential=managedidentity",
		"ServiceBusConnection__clientId="+entraClientID,
		"IDENTITY_ENDPOINT="+id.srv.URL+"/msi/token",
		"IDENTITY_HEADER="+id.header,
	)
	return entraBundle{process: startProcess(t, port, env, 40*time.Second), proxy: proxy, identity: id, role: role,
		database: database}
}

// TestHandlerConnectsPasswordlessWithIdentitySettings is acceptance point
// 3 of issue 7: given only identity-based settings, the handler process
// gets a token from the managed identity endpoint for AZURE_CLIENT_ID and
// the PostgreSQL scope, logs in with it as the password, migrates the
// provisioned database with the app role's grants and serves requests.
func TestHandlerConnectsPasswordlessWithIdentitySettings(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	res, err := http.Get(b.base + "/api/products")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Products []json.RawMessage `json:"products"`
	}
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || len(list.Products) != 5 {
		t.Fatalf("products: %d %v %d\nstderr:\n%s", res.StatusCode, err, len(list.Products), b.stderr)
	}
	logins := b.proxy.Logins()
	if len(logins) == 0 {
		t.Fatal("no login reached the proxy")
	}
	for _, l := range logins {
		if !l.Accepted || l.Password != entraToken || l.User != b.role || l.Database != b.database {
			t.Fatalf("login %+v, want %s on %s with the managed identity token", l, b.role, b.database)
		}
	}
	reqs := b.identity.Requests()
	if len(reqs) == 0 || !slices.Contains(reqs, entraClientID+" "+postgresResource) {
		t.Fatalf("identity endpoint requests %q, want one for %s %s", reqs, entraClientID, postgresResource)
	}
	b.terminate(t)
	if !strings.Contains(b.stdout.String(), "postgresAuth=entra") || !strings.Contains(b.stdout.String(), "applied migration") {
		t.Fatalf("stdout:\n%s", b.stdout)
	}
}

func TestStoreConfigByAuthMode(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	pw, err := setting.Load(func(k string) (string, bool) { return map[string]string{"BROKER": "rabbitmq"}[k], k == "BROKER" })
	if err != nil {
		t.Fatal(err)
	}
	sc, err := app.StoreConfig(context.Background(), pw, nil, log)
	if err != nil || sc.URL != setting.DefaultDatabaseURL || sc.BeforeConnect != nil || sc.SkipCreateDatabase {
		t.Fatalf("password mode: %+v %v", sc, err)
	}
	env := map[string]string{"BROKER": "rabbitmq", "POSTGRES_AUTH": "entra", "POSTGRES_HOST": "srv.postgres.database.azure.com",
		"POSTGRES_DATABASE": "orders", "POSTGRES_USER": "orderflow-id"}
	entra, err := setting.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cred := &storetest.FakeCredential{Scope: store.EntraScope, Issue: func(int) (azcore.AccessToken, error) {
		return azcore.AccessToken{Token: "fake", ExpiresOn: time.Now().Add(time.Hour)}, nil
	}}
	sc, err = app.StoreConfig(context.Background(), entra, cred, log)
	if err != nil || !sc.SkipCreateDatabase || sc.BeforeConnect == nil || sc.URL != entra.PostgresURL() {
		t.Fatalf("entra mode: %+v %v", sc, err)
	}
	cc, err := pgx.ParseConfig(sc.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.BeforeConnect(context.Background(), cc); err != nil || cc.Password != "fake" || cc.TLSConfig == nil {
		t.Fatalf("entra connect config: password %q tls %v err %v", cc.Password, cc.TLSConfig != nil, err)
	}
}
