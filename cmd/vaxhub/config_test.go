package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunReadsTheDatabaseURLThatEnsurePostgresWrote(t *testing.T) {
	const local = "postgres://vaxhub:s3cret-Generated_pw@127.0.0.1:5432/vaxhub"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "database.url"), []byte(local+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(t.TempDir(), "vaxhub.yaml")
	if err := os.WriteFile(yaml, []byte("database_url: postgres://from-file@db.example/vaxhub\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		env  string
		args []string
		m    mode
		want string
	}{
		{"the file in the data dir", "", []string{"-data-dir", dir}, modeRun, local},
		{"DATABASE_URL wins", "postgres://env@127.0.0.1/vaxhub", []string{"-data-dir", dir}, modeRun, "postgres://env@127.0.0.1/vaxhub"},
		{"the flag wins", "", []string{"-data-dir", dir, "-database-url", "postgres://flag@127.0.0.1/vaxhub"}, modeRun, "postgres://flag@127.0.0.1/vaxhub"},
		{"the config file wins", "", []string{"-data-dir", dir, "-config", yaml}, modeRun, "postgres://from-file@db.example/vaxhub"},
		{"no file: the superuser", "", []string{"-data-dir", empty}, modeRun, superuserURL},
		{"vaxhub hub does not read it", "", []string{"-data-dir", dir}, modeHub, superuserURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", tc.env)
			t.Setenv("VAXHUB_CONFIG", "")
			t.Setenv("VAXHUB_DEV_TOKEN", "")
			t.Setenv("VAXHUB_DATA_KEY", strings.Repeat("ab", 32))
			cfg, err := loadConfig(tc.args, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DatabaseURL != tc.want {
				t.Fatalf("database URL %q, want %q", cfg.DatabaseURL, tc.want)
			}
			var out strings.Builder
			cfg.print(&out)
			if strings.Contains(out.String(), "s3cret") {
				t.Fatalf("config shows the password:\n%s", out.String())
			}
		})
	}
}

func TestConfigMasksTheDatabasePassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://vaxhub:s3cret@127.0.0.1:5432/vaxhub":                     "postgres://vaxhub:****@127.0.0.1:5432/vaxhub",
		"postgres://vaxhub:s3%40cr%2Fet@127.0.0.1/vaxhub?sslmode=disable":    "postgres://vaxhub:****@127.0.0.1/vaxhub?sslmode=disable",
		"postgres://vaxhub@127.0.0.1/vaxhub?password=s3cret&sslmode=require": "postgres://vaxhub@127.0.0.1/vaxhub?password=****&sslmode=require",
		"postgres://postgres@127.0.0.1:5432/vaxhub":                          "postgres://postgres@127.0.0.1:5432/vaxhub",
		"postgres:///postgres?host=/var/run/postgresql&user=postgres":        "postgres:///postgres?host=/var/run/postgresql&user=postgres",
		"host=db.example user=vaxhub password=s3cret dbname=vaxhub":          "host=db.example user=vaxhub password=**** dbname=vaxhub",
	} {
		if got := maskURL(in); got != want || strings.Contains(got, "s3") {
			t.Errorf("maskURL(%q) = %q, want %q", in, got, want)
		}
	}
}
