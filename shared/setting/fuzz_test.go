package setting_test

import (
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/shared/setting"
)

// FuzzPostgresURL checks that whatever POSTGRES_* values Load accepts, the
// URL it builds parses (as pgx parses it) back to the same server, port,
// database and role, and carries no password.
func FuzzPostgresURL(f *testing.F) {
	f.Add("srv.postgres.database.azure.com", "5432", "orders", "orderflow-id", "require")
	f.Add("::1", "6432", "orders db", "app@tenant.onmicrosoft.com", "disable")
	f.Add("127.0.0.1", "", "a/b?c#d", "user:with%colon", "verify-full")
	f.Fuzz(func(t *testing.T, host, port, database, user, sslmode string) {
		env := map[string]string{"BROKER": "rabbitmq", "POSTGRES_AUTH": "entra", "POSTGRES_HOST": host, "POSTGRES_PORT": port,
			"POSTGRES_DATABASE": database, "POSTGRES_USER": user, "POSTGRES_SSLMODE": sslmode}
		s, err := setting.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			return
		}
		cc, err := pgconn.ParseConfig(s.PostgresURL())
		if err != nil {
			t.Fatalf("accepted settings %+v give an unparsable URL %q: %v", env, s.PostgresURL(), err)
		}
		if cc.Host != s.PostgresHost || strconv.Itoa(int(cc.Port)) != strconv.Itoa(s.PostgresPort) || cc.Database != s.PostgresDatabase ||
			cc.User != s.PostgresUser || cc.Password != "" {
			t.Fatalf("URL %q parses to host=%q port=%d db=%q user=%q password=%q, want %q %d %q %q",
				s.PostgresURL(), cc.Host, cc.Port, cc.Database, cc.User, cc.Password, s.PostgresHost, s.PostgresPort, s.PostgresDatabase, s.PostgresUser)
		}
	})
}
