package main

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestProgramCatalogDir runs the program's worker with --catalog-dir and
// --after-change on a real etcd: a put through the coordinator's API
// produces the file, with the catalog's contents and mode 0600, before the
// catalog is ready; a drop removes it; the command runs after each; a stale
// file of the program's is removed at start, a hand-written one kept.
func TestProgramCatalogDir(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	eps := strings.Join(etcd.Endpoints(), ",")
	dir := t.TempDir()
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	stale := filepath.Join(dir, "old.properties")
	if err := os.WriteFile(stale, []byte(fileHeader+"\nconnector.name=memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hand := filepath.Join(dir, "tpch.properties")
	if err := os.WriteFile(hand, []byte("connector.name=tpch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	co := startProc(ctx, "coordinator", "--endpoints", eps, "--prefix", "/p", "--id", "c1", "--listen", "127.0.0.1:0", "--ttl", "2s", "--log-level", "ERROR")
	url := strings.TrimPrefix(co.expect(t, "coordinator c1 serving on "), "coordinator c1 serving on ")
	wk := startProc(ctx, "worker", "--endpoints", eps, "--prefix", "/p", "--id", "w1", "--ttl", "2s", "--log-level", "ERROR",
		"--catalog-dir", dir, "--after-change", "/bin/sh "+hookScript(t, hookLog)+" arg")
	wk.expect(t, "worker w1: 0 catalogs loaded")
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale file of a dropped catalog: %v, want it removed", err)
	}
	if _, err := os.Stat(hand); err != nil {
		t.Errorf("hand-written catalog file: %v, want it kept", err)
	}

	var out, errb strings.Builder
	if code := run(context.Background(), []string{"put", "pg", "--coordinator", url, "--connector", "postgresql",
		"--property", "connection-url=jdbc:postgresql://db:5432/x", "--property", "connection-password=pw 9=z"}, &out, &errb); code != 0 {
		t.Fatalf("put: exit %d: %s", code, errb.String())
	}
	path := filepath.Join(dir, "pg.properties")
	want := fileHeader + "\nconnector.name=postgresql\nconnection-password=pw 9\\=z\nconnection-url=jdbc\\:postgresql\\://db\\:5432/x\n"
	waitFor(t, 10*time.Second, "pg's file", func() bool {
		b, _ := os.ReadFile(path)
		return string(b) == want
	})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pg's file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	waitFor(t, 10*time.Second, "pg ready", func() bool {
		var s Status
		return call(t, http.MethodGet, url+"/v1/catalogs/pg", nil, &s) == http.StatusOK && s.State == StateReady
	})
	// Ready means the worker's Apply returned: the command has run.
	if got := readLines(hookLog); !slices.Equal(got, []string{"arg|old|remove|" + stale + "|absent", "arg|pg|write|" + path + "|present"}) {
		t.Errorf("command runs %q: want old's removal, then pg's write", got)
	}

	if code := run(context.Background(), []string{"drop", "pg", "--coordinator", url}, &out, &errb); code != 0 {
		t.Fatalf("drop: exit %d: %s", code, errb.String())
	}
	waitFor(t, 10*time.Second, "pg's file removed", func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, fs.ErrNotExist)
	})
	waitFor(t, 10*time.Second, "the command run for pg's removal", func() bool {
		return slices.Contains(readLines(hookLog), "arg|pg|remove|"+path+"|absent")
	})
	stop()
	wk.wait(t)
	co.wait(t)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"tpch.properties"}) {
		t.Errorf("directory holds %v at the end, want tpch.properties alone", got)
	}
}

// TestFileWorkerCarriesOn: through a real worker, a catalog whose command
// fails is still written and ready, and catalogs with names no file may
// have, written to etcd behind the coordinator's back, are refused and
// skipped: the worker goes on to apply the next catalog, and writes nothing
// outside its directory.
func TestFileWorkerCarriesOn(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	parent := t.TempDir()
	dir := filepath.Join(parent, "catalog")
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	var lg logs
	files := newFiles(t, dir, []string{"/bin/sh", hookScript(t, hookLog), "x"}, &lg)
	startWorker(t, cli, "w1", files, lg.logger())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"../evil", "Bad"} {
		if _, err := cli.Put(ctx, prefix+"/catalogs/"+name, `{"connector":"memory"}`); err != nil {
			t.Fatal(err)
		}
	}
	put(t, co, "fails", "postgresql", Properties{"connection-password": "hunter2"})
	put(t, co, "pg", "postgresql", nil)
	waitStatus(t, co, "pg", 10*time.Second, "ready", ready)
	waitStatus(t, co, "fails", 10*time.Second, "ready", ready)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"fails.properties", "pg.properties"}) {
		t.Errorf("directory holds %v, want fails and pg", got)
	}
	if got := dirNames(t, parent); !slices.Equal(got, []string{"catalog"}) {
		t.Errorf("parent directory holds %v, want catalog alone", got)
	}
	out := lg.String()
	for _, want := range []string{"after-change command failed", `catalog refused by the connector; skipped`, `\"../evil\"`, `\"Bad\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log shows the secret:\n%s", out)
	}
}
