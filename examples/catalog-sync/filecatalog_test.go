package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
)

// loadProperties parses a Java properties file as java.util.Properties.load
// does (Java is not installed here to ask it): natural lines end at \n, \r
// or \r\n; leading spaces, tabs and form feeds are skipped; a line whose
// first other character is # or ! is a comment; a line ending in an odd
// number of backslashes goes on at the next line, whose leading white space
// is skipped; the key ends at the first unescaped =, :, space, tab or form
// feed; white space, then one = or :, then white space are skipped before
// the value; in key and value \t \n \r \f \uXXXX are decoded and a
// backslash before any other character stands for that character.
func loadProperties(t *testing.T, text string) map[string]string {
	t.Helper()
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	out := map[string]string{}
	white := " \t\f"
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], white)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for oddBackslashes(line) {
			line = line[:len(line)-1]
			if i+1 >= len(lines) {
				break
			}
			i++
			line += strings.TrimLeft(lines[i], white)
		}
		r := []rune(line)
		keyLen, valueStart, hasSep, escaped := 0, len(r), false, false
		for ; keyLen < len(r); keyLen++ {
			c := r[keyLen]
			if !escaped && (c == '=' || c == ':') {
				valueStart, hasSep = keyLen+1, true
				break
			}
			if !escaped && strings.ContainsRune(white, c) {
				valueStart = keyLen + 1
				break
			}
			escaped = c == '\\' && !escaped
		}
		for ; valueStart < len(r); valueStart++ {
			c := r[valueStart]
			if strings.ContainsRune(white, c) {
				continue
			}
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
				continue
			}
			break
		}
		out[loadConvert(t, r[:keyLen])] = loadConvert(t, r[valueStart:])
	}
	return out
}

func oddBackslashes(s string) bool {
	n := len(s) - len(strings.TrimRight(s, `\`))
	return n%2 == 1
}

// loadConvert decodes the escapes of a key or a value, to UTF-16 code units
// as Java's strings hold them, then to a Go string.
func loadConvert(t *testing.T, r []rune) string {
	t.Helper()
	var u []uint16
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c != '\\' {
			u = utf16.AppendRune(u, c)
			continue
		}
		i++
		if i == len(r) {
			t.Fatalf("a lone backslash at the end of %q", string(r))
		}
		switch c = r[i]; c {
		case 't':
			u = append(u, '\t')
		case 'n':
			u = append(u, '\n')
		case 'r':
			u = append(u, '\r')
		case 'f':
			u = append(u, '\f')
		case 'u':
			if i+4 >= len(r) {
				t.Fatalf("malformed \\uxxxx in %q", string(r))
			}
			var v uint16
			for _, h := range r[i+1 : i+5] {
				var d rune
				switch {
				case h >= '0' && h <= '9':
					d = h - '0'
				case h >= 'a' && h <= 'f':
					d = h - 'a' + 10
				case h >= 'A' && h <= 'F':
					d = h - 'A' + 10
				default:
					t.Fatalf("malformed \\uxxxx in %q", string(r))
				}
				v = v<<4 | uint16(d)
			}
			u = append(u, v)
			i += 4
		default:
			u = utf16.AppendRune(u, c)
		}
	}
	return string(utf16.Decode(u))
}

// TestLoadPropertiesParser: the test's parser reads what Java's documented
// examples say, so that the round trip below means something.
func TestLoadPropertiesParser(t *testing.T) {
	// From the Javadoc of Properties.load(Reader).
	text := "Truth = Beauty\n  Truth:Beauty\nTruth                    :Beauty\n" +
		"fruits                           apple, banana, pear, \\\n" +
		"                                  cantaloupe, watermelon, \\\n" +
		"                                  kiwi, mango\n" +
		"cheeses\n# comment \\\n! other\n\\:\\=\\ key=\\u00e9\\x\r\nlast=a\\\\"
	got := loadProperties(t, text)
	want := map[string]string{
		"Truth":   "Beauty",
		"fruits":  "apple, banana, pear, cantaloupe, watermelon, kiwi, mango",
		"cheeses": "",
		":= key":  "éx",
		"last":    `a\`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parsed %q\nwant   %q", got, want)
	}
}

func newFiles(t *testing.T, dir string, command []string, log *logs) *FileConnector {
	t.Helper()
	l := quiet
	if log != nil {
		l = log.logger()
	}
	f, err := NewFileConnector(dir, command, 5*time.Second, l)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

var pgCatalog = Catalog{Name: "pg", Connector: "postgresql", Revision: 9, Properties: Properties{
	"connection-url":      "jdbc:postgresql://db:5432/sales",
	"connection-password": " p=w:#!\\\n\tx\r\fy",
	"key with space":      "v",
	"ünï":                 "日本😀",
	"empty":               "",
	"trailing":            "v ",
	"ctl":                 "\x00\x7f\u0085",
}}

// pgFile is pgCatalog's file, as java.util.Properties.store would write
// its lines: keys in order after connector.name.
const pgFile = "# Written by catalog-sync from etcd: edits here are overwritten.\n" +
	`connector.name=postgresql` + "\n" +
	`connection-password=\ p\=w\:\#\!\\\n\tx\r\fy` + "\n" +
	`connection-url=jdbc\:postgresql\://db\:5432/sales` + "\n" +
	`ctl=\u0000\u007F\u0085` + "\n" +
	`empty=` + "\n" +
	`key\ with\ space=v` + "\n" +
	`trailing=v ` + "\n" +
	`\u00FCn\u00EF=\u65E5\u672C\uD83D\uDE00` + "\n"

// TestFileContents: the file holds connector.name and every property,
// escaped as Java writes them, and reads back to the catalog.
func TestFileContents(t *testing.T) {
	dir := t.TempDir()
	f := newFiles(t, dir, nil, nil)
	if err := f.Apply(context.Background(), pgCatalog); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pg.properties"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != pgFile {
		t.Errorf("file:\n%s\nwant:\n%s", b, pgFile)
	}
	for i, c := range b {
		if c > 0x7E || (c < 0x20 && c != '\n') {
			t.Fatalf("byte %d of the file is %#x: want printable ASCII and newlines only", i, c)
		}
	}
	want := map[string]string{connectorNameKey: "postgresql"}
	for k, v := range pgCatalog.Properties {
		want[k] = v
	}
	if got := loadProperties(t, string(b)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back %q\nwant      %q", got, want)
	}
}

// TestPropertiesRoundTrip: random keys and values made of the characters
// that need escaping read back as they were.
func TestPropertiesRoundTrip(t *testing.T) {
	alphabet := []rune(" \\=:#!\t\n\r\fa1.-_é日😀\x00\x1f\x7f\u0085\u2028\uFEFF")
	rng := rand.New(rand.NewPCG(1, 2))
	str := func(min int) string {
		r := make([]rune, min+rng.IntN(10))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	for n := 0; n < 300; n++ {
		c := Catalog{Name: "x", Connector: str(1), Properties: Properties{}}
		for range 5 {
			c.Properties[str(1)] = str(0)
		}
		delete(c.Properties, connectorNameKey)
		want := map[string]string{connectorNameKey: c.Connector}
		for k, v := range c.Properties {
			want[k] = v
		}
		text := string(encodeProperties(c))
		if got := loadProperties(t, text); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("file %q\nread back %q\nwant      %q", text, got, want)
		}
	}
}

// TestFileMode0600: the file is mode 0600 with a umask that lets everyone
// read, when created, and when it replaces a file everyone could read,
// even one whose contents are the same.
func TestFileMode0600(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	f := newFiles(t, dir, nil, nil)
	path := filepath.Join(dir, "pg.properties")
	check := func(when string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", when, fi.Mode().Perm())
		}
	}
	if err := f.Apply(context.Background(), pgCatalog); err != nil {
		t.Fatal(err)
	}
	check("created")
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(context.Background(), pgCatalog); err != nil {
		t.Fatal(err)
	}
	check("same contents over a 0666 file")
	os.Remove(path)
	if err := os.WriteFile(path, []byte("connector.name=x\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(context.Background(), pgCatalog); err != nil {
		t.Fatal(err)
	}
	check("replacing a 0666 file")
}

// TestAtomicReplace: a reader that reads the file again and again while it
// is replaced many times, with contents of different sizes, only ever sees
// one whole version, never a part or an empty file.
func TestAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	f := newFiles(t, dir, nil, nil)
	small := Catalog{Name: "pg", Connector: "postgresql", Properties: Properties{"a": "1"}}
	large := Catalog{Name: "pg", Connector: "postgresql", Properties: Properties{"a": strings.Repeat("x", 256<<10)}}
	versions := map[string]bool{string(encodeProperties(small)): true, string(encodeProperties(large)): true}
	if err := f.Apply(context.Background(), small); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pg.properties")
	done := make(chan struct{})
	var reads int
	var bad []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			reads++
			if err != nil || !versions[string(b)] {
				bad = append(bad, fmt.Sprintf("%d bytes, err %v", len(b), err))
			}
		}
	}()
	for i := range 100 {
		c := small
		if i%2 == 0 {
			c = large
		}
		if err := f.Apply(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d reads saw something else than a whole version: %v", len(bad), reads, bad[:min(len(bad), 5)])
	}
	if reads < 2 {
		t.Errorf("%d reads during 100 replacements: the test checked nothing", reads)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"pg.properties"}) {
		t.Errorf("directory holds %v, want pg.properties alone", got)
	}
}

// TestFailedWriteLeavesNoTemporary: a write that fails after its temporary
// file was made (the rename, over a directory) returns an error naming the
// catalog and leaves no temporary file; one a crash left is removed at the
// next start. (A read-only directory, which would fail before the
// temporary file, does not stop root, whom the tests run as here.)
func TestFailedWriteLeavesNoTemporary(t *testing.T) {
	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		f := newFiles(t, dir, nil, nil)
		// pg.properties is a directory that is not empty: rename cannot
		// replace it.
		if err := os.MkdirAll(filepath.Join(dir, "pg.properties", "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		err := f.Apply(context.Background(), pgCatalog)
		if err == nil || !strings.Contains(err.Error(), `"pg"`) {
			t.Errorf("Apply over a directory: %v, want an error naming pg", err)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"pg.properties"}) {
			t.Errorf("directory holds %v after the failed write, want pg.properties alone", got)
		}
	})
	t.Run("leftovers removed at start", func(t *testing.T) {
		dir := t.TempDir()
		left := filepath.Join(dir, ".pg.properties.tmp-123")
		if err := os.WriteFile(left, []byte("connector.name=x"), 0o600); err != nil {
			t.Fatal(err)
		}
		newFiles(t, dir, nil, nil)
		if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a crash's temporary file is still there: %v", err)
		}
	})
}

// TestDropRemovesFile: Stop (phase 1) leaves the file, Release (phase 2)
// removes it, and nothing else is left.
func TestDropRemovesFile(t *testing.T) {
	dir := t.TempDir()
	f := newFiles(t, dir, nil, nil)
	if err := f.Apply(context.Background(), pgCatalog); err != nil {
		t.Fatal(err)
	}
	f.Stop("pg")
	if got := dirNames(t, dir); !slices.Equal(got, []string{"pg.properties"}) {
		t.Errorf("after Stop: directory holds %v, want pg.properties", got)
	}
	f.Release("pg")
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("after Release: directory holds %v, want nothing", got)
	}
}

// TestUnsafeNamesRefused: a name with a path separator, "..", a dot, an
// upper-case letter or a space, or "system", is refused with ErrRefused
// and an error naming it, and no file is written, in the directory or out
// of it.
func TestUnsafeNamesRefused(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "catalog")
	f := newFiles(t, dir, nil, nil)
	for _, name := range []string{"../evil", "a/b", "..", "a..b", "a.b", `a\b`, "PG", "a b", "", "system", "_x", "日本"} {
		err := f.Apply(context.Background(), Catalog{Name: name, Connector: "memory"})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Apply of %q: %v, want ErrRefused naming it", name, err)
		}
		f.Release(name)
	}
	err := f.Apply(context.Background(), Catalog{Name: "pg", Connector: "memory", Properties: Properties{connectorNameKey: "x"}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), connectorNameKey) {
		t.Errorf("Apply with a connector.name property: %v, want ErrRefused naming it", err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("directory holds %v, want nothing", got)
	}
	if got := dirNames(t, parent); !slices.Equal(got, []string{"catalog"}) {
		t.Errorf("parent directory holds %v, want catalog alone", got)
	}
}

// hookScript writes a shell script that appends a line to log on each run:
// its arguments, then the catalog, action and file from its environment,
// and whether the file exists. Catalog "fails" makes it print the file and
// fail; catalog "slow" makes it sleep.
func hookScript(t *testing.T, log string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "hook.sh")
	text := `if [ -e "$CATALOG_SYNC_FILE" ]; then state=present; else state=absent; fi
echo "$1|$CATALOG_SYNC_CATALOG|$CATALOG_SYNC_ACTION|$CATALOG_SYNC_FILE|$state$ETCD_PASSWORD$ETCDCTL_PASSWORD$ETCDCTL_USER" >> '` + log + `'
case "$CATALOG_SYNC_CATALOG" in
fails) echo "boom"; cat "$CATALOG_SYNC_FILE" >&2; exit 3;;
slow) exec sleep 30;;
esac
`
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return script
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// TestAfterChange: the command runs after each file written or removed,
// without a shell (its argument "$HOME" comes as it is), with the catalog,
// the action and the file in its environment and not etcd's password
// variables, the file already in place
// or gone; not after an Apply that changes nothing, nor after Stop. Its
// failure is logged with its output, secrets redacted, and Apply still
// succeeds; a command that hangs is killed after the timeout.
func TestAfterChange(t *testing.T) {
	dir := t.TempDir()
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	// etcd's password stays out of the command's environment (the script
	// appends these variables to each line).
	t.Setenv("ETCD_PASSWORD", "etcd-pw")
	t.Setenv("ETCDCTL_PASSWORD", "etcdctl-pw")
	t.Setenv("ETCDCTL_USER", "u:pw")
	var lg logs
	f := newFiles(t, dir, []string{"/bin/sh", hookScript(t, hookLog), "$HOME"}, &lg)
	ctx := context.Background()
	pg := Catalog{Name: "pg", Connector: "postgresql", Properties: Properties{"connection-password": "hunter2"}}
	if err := f.Apply(ctx, pg); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(ctx, pg); err != nil { // unchanged: no run
		t.Fatal(err)
	}
	f.Stop("pg")
	f.Release("pg")
	path := filepath.Join(dir, "pg.properties")
	want := []string{"$HOME|pg|write|" + path + "|present", "$HOME|pg|remove|" + path + "|absent"}
	if got := readLines(hookLog); !slices.Equal(got, want) {
		t.Errorf("command runs:\n%q\nwant\n%q", got, want)
	}

	fails := Catalog{Name: "fails", Connector: "postgresql", Properties: Properties{"connection-password": "hunter2"}}
	if err := f.Apply(ctx, fails); err != nil {
		t.Errorf("Apply with a failing command: %v, want nil (the file is written)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fails.properties")); err != nil {
		t.Errorf("file of a catalog whose command failed: %v", err)
	}
	out := lg.String()
	if !strings.Contains(out, "after-change command failed") || !strings.Contains(out, "exit status 3") ||
		!strings.Contains(out, "boom") || !strings.Contains(out, "connection-password="+Redacted) {
		t.Errorf("log %q: want the failure, its exit status and its output", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log shows the secret: %q", out)
	}

	short, err := NewFileConnector(dir, f.command, 200*time.Millisecond, lg.logger())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := short.Apply(ctx, Catalog{Name: "slow", Connector: "memory"}); err != nil {
		t.Errorf("Apply with a hanging command: %v, want nil", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Apply with a hanging command took %v: the command was not killed", took)
	}
	if !strings.Contains(lg.String(), "timed out after 200ms") {
		t.Errorf("log %q: want the timeout", lg.String())
	}
}

// TestRemoveStale: files this program wrote for catalogs not applied since
// the connector was made go; a catalog applied since and a hand-written
// file stay.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	before := newFiles(t, dir, nil, nil)
	for _, n := range []string{"old", "pg"} {
		if err := before.Apply(context.Background(), Catalog{Name: n, Connector: "memory"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tpch.properties"), []byte("connector.name=tpch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := newFiles(t, dir, []string{"/bin/sh", hookScript(t, hookLog), "x"}, nil)
	if err := after.Apply(context.Background(), Catalog{Name: "pg", Connector: "memory"}); err != nil {
		t.Fatal(err)
	}
	if err := after.RemoveStale(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"pg.properties", "tpch.properties"}) {
		t.Errorf("directory holds %v, want pg and tpch", got)
	}
	want := []string{"x|old|remove|" + filepath.Join(dir, "old.properties") + "|absent"}
	if got := readLines(hookLog); !slices.Equal(got, want) {
		t.Errorf("command runs %q, want %q (pg's file did not change)", got, want)
	}
}

// TestAfterChangeDirSyncFails: an Apply whose file is renamed into place
// but whose directory cannot be synced fails, to be retried, and runs the
// command all the same, once: the retry finds the file as it should be,
// syncs the directory and runs nothing more.
func TestAfterChangeDirSyncFails(t *testing.T) {
	dir := t.TempDir()
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	f := newFiles(t, dir, []string{"/bin/sh", hookScript(t, hookLog), "x"}, nil)
	real := syncDir
	defer func() { syncDir = real }()
	syncs := 0
	syncDir = func(d string) error {
		syncs++
		if syncs == 1 {
			return errors.New("sync failed")
		}
		return real(d)
	}
	ctx := context.Background()
	if err := f.Apply(ctx, pgCatalog); err == nil || !strings.Contains(err.Error(), "sync failed") {
		t.Fatalf("Apply with a failing directory sync: %v, want its error", err)
	}
	if err := f.Apply(ctx, pgCatalog); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if syncs != 2 {
		t.Errorf("the directory was synced %d times, want 2 (the retry syncs it)", syncs)
	}
	path := filepath.Join(dir, "pg.properties")
	if got, want := readLines(hookLog), []string{"x|pg|write|" + path + "|present"}; !slices.Equal(got, want) {
		t.Errorf("command runs %q, want %q: once, for the file in place", got, want)
	}
}
