package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
)

// FileConnector is the Connector of a Trino worker that reads its catalogs
// from files (catalog.management=static): it keeps one catalog properties
// file per catalog, <dir>/<name>.properties, as Trino reads them from
// etc/catalog, and runs an optional command after each file it writes or
// removes, to tell Trino (a restart, say: Trino reads these files only at
// start-up).
//
// Apply writes the file (connector.name=..., then the properties; see
// encodeProperties), mode 0600 since it holds secrets: to a temporary file
// in dir, synced, renamed over the old file, then the directory synced, so
// that a reader sees the old file or the new one, whole, and a crash leaves
// one of them. A file whose contents would not change is left as it is,
// and the command is not run: a worker that restarts rewrites nothing.
// Stop (phase 1 of a drop) leaves the file in place: no file change can
// stop new use in a running Trino, and a Trino that restarts meanwhile
// still has the catalog, which is still in etcd. Release (phase 2) removes
// the file.
//
// The methods are safe for concurrent use.
type FileConnector struct {
	dir     string
	command []string      // run after each change; nil for none
	timeout time.Duration // bound on each run of command
	log     *slog.Logger

	mu      sync.Mutex
	written map[string]Catalog // catalogs whose file this connector holds
	// unsynced are the catalogs whose file was renamed into place by an
	// Apply that then failed to sync the directory.
	unsynced map[string]bool
}

// Environment of the after-change command, on top of the worker's own.
const (
	EnvCatalog = "CATALOG_SYNC_CATALOG" // the catalog's name
	EnvAction  = "CATALOG_SYNC_ACTION"  // ActionWrite or ActionRemove
	EnvFile    = "CATALOG_SYNC_FILE"    // the catalog's file
)

// Actions in EnvAction.
const (
	ActionWrite  = "write"  // the file was created or replaced
	ActionRemove = "remove" // the file was removed
)

// tmpPattern names temporary files: hidden, and not ending in
// ".properties", so that Trino never reads one as a catalog.
const tmpPattern = ".%s.properties.tmp-*"

// maxOutput bounds how much of a failed command's output is logged.
const maxOutput = 4 << 10

// NewFileConnector returns a connector that keeps the catalog files in dir,
// creating it (mode 0700) if need be. command, if not empty, is the program
// and arguments to run after each change, with no shell; each run is
// bounded by timeout. Temporary files left by a crash are removed.
func NewFileConnector(dir string, command []string, timeout time.Duration, log *slog.Logger) (*FileConnector, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	if len(command) == 0 {
		command = nil
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("after-change timeout %v: want more than 0", timeout)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf(tmpPattern, "*")))
	for _, f := range leftovers {
		os.Remove(f)
	}
	return &FileConnector{dir: dir, command: command, timeout: timeout, log: log, written: map[string]Catalog{}, unsynced: map[string]bool{}}, nil
}

// Path returns the file of a catalog.
func (f *FileConnector) Path(name string) string {
	return filepath.Join(f.dir, name+".properties")
}

// Apply writes the catalog's file, then runs the command if the file
// changed. A catalog whose name is not a safe file name, or whose
// properties set connector.name, is refused (ErrRefused). The command's
// failure is logged, not returned: the file is in place.
func (f *FileConnector) Apply(ctx context.Context, c Catalog) error {
	if err := checkName(c.Name); err != nil {
		return fmt.Errorf("%w: catalog %q: %v", ErrRefused, c.Name, err)
	}
	if _, ok := c.Properties[connectorNameKey]; ok {
		return fmt.Errorf("%w: catalog %q: property %s is the connector's name", ErrRefused, c.Name, connectorNameKey)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data := encodeProperties(c)
	path := f.Path(c.Name)
	if same(path, data) {
		if f.unsynced[c.Name] {
			// The file was renamed into place, and the command run, by an
			// Apply that failed to sync the directory: sync it now.
			if err := syncDir(f.dir); err != nil {
				return fmt.Errorf("catalog %q: %w", c.Name, err)
			}
			delete(f.unsynced, c.Name)
		}
		f.written[c.Name] = c
		return nil
	}
	renamed, err := writeAtomic(path, data)
	if !renamed {
		return fmt.Errorf("catalog %q: %w", c.Name, err)
	}
	// The file is in place: the command runs for it even if the directory
	// could not be synced, since the retry of this Apply finds the file as
	// it should be and runs nothing.
	f.written[c.Name] = c
	f.log.Debug("catalog file written", "catalog", c.Name, "file", path)
	f.after(ctx, c, ActionWrite)
	if err != nil {
		f.unsynced[c.Name] = true
		return fmt.Errorf("catalog %q: %w", c.Name, err)
	}
	delete(f.unsynced, c.Name)
	return nil
}

// Stop leaves the file in place (see FileConnector).
func (f *FileConnector) Stop(name string) {}

// Release removes the catalog's file and runs the command. A file that
// cannot be removed is logged.
func (f *FileConnector) Release(name string) {
	if checkName(name) != nil {
		return // never written
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.written[name]
	if !ok {
		c = Catalog{Name: name}
	}
	f.remove(c)
}

// RemoveStale removes the files this program wrote (their first line is
// its header) for catalogs that this connector has not applied since it
// was made: catalogs dropped while the worker was away. Call it once the
// worker has started, that is once it has applied every catalog; files
// without the header, written by hand, are left alone.
func (f *FileConnector) RemoveStale() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".properties")
		if !ok || !e.Type().IsRegular() || checkName(name) != nil {
			continue
		}
		if _, ok := f.written[name]; ok || !ours(f.Path(name)) {
			continue
		}
		f.remove(Catalog{Name: name})
	}
	return nil
}

// remove removes c's file and runs the command; f.mu is held.
func (f *FileConnector) remove(c Catalog) {
	delete(f.written, c.Name)
	path := f.Path(c.Name)
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = syncDir(f.dir)
	}
	if err != nil {
		f.log.Error("remove catalog file failed", "catalog", c.Name, "err", err)
		return
	}
	f.log.Debug("catalog file removed", "catalog", c.Name, "file", path)
	f.after(context.Background(), c, ActionRemove)
}

// after runs the command, if any, for a change of c, within f.timeout.
// Its failure is logged with its output, in which the values of c's
// secret properties are redacted; the environment carries no property, nor
// etcd's password.
func (f *FileConnector) after(ctx context.Context, c Catalog, action string) {
	if f.command == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.command[0], f.command[1:]...)
	cmd.Env = append(hookEnv(), EnvCatalog+"="+c.Name, EnvAction+"="+action, EnvFile+"="+f.Path(c.Name))
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child that keeps the output open past the end of the command
	// does not hold the worker up for long.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		f.log.Debug("after-change command done", "catalog", c.Name, "action", action, "took", time.Since(start))
		return
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v: %w", f.timeout, err)
	}
	f.log.Error("after-change command failed", "catalog", c.Name, "action", action, "err", err,
		"output", redactValues(out.String(), c.Properties))
}

// hookEnv is the worker's environment without the variables that may hold
// etcd's password ($ETCD_PASSWORD, $ETCDCTL_PASSWORD, and $ETCDCTL_USER,
// which may be name:password), as the mastership command leaves them out
// of its child's.
func hookEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case etcdflags.PasswordEnv, etcdflags.EtcdctlPasswordEnv, "ETCDCTL_USER":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// redactValues replaces every secret value of props in s.
func redactValues(s string, props Properties) string {
	for k, v := range props {
		if IsSecret(k) && v != "" {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cut bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		b.cut = true
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if b.cut {
		s += "..."
	}
	return s
}

// same reports whether path holds data, with mode 0600.
func same(path string, data []byte) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || fi.Size() != int64(len(data)) {
		return false
	}
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, data)
}

// ours reports whether the file at path starts with this program's header.
func ours(path string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	head := make([]byte, len(fileHeader)+1)
	n, _ := fh.Read(head)
	return string(head[:n]) == fileHeader+"\n"
}

// writeAtomic replaces path with data, mode 0600: written to a temporary
// file in the same directory, synced, renamed over path, and the directory
// synced. It reports whether the file was renamed into place: an error
// with renamed true is the directory's sync, and path holds data. On an
// error before the rename the temporary file is removed and path is as it
// was.
func writeAtomic(path string, data []byte) (renamed bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, fmt.Sprintf(tmpPattern, strings.TrimSuffix(filepath.Base(path), ".properties")))
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes it 0600 whatever the umask; said again, since the
	// file holds secrets.
	if err = tmp.Chmod(0o600); err != nil {
		return false, err
	}
	if _, err = tmp.Write(data); err != nil {
		return false, err
	}
	if err = tmp.Sync(); err != nil {
		return false, err
	}
	if err = tmp.Close(); err != nil {
		return false, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return false, err
	}
	return true, syncDir(dir)
}

// syncDir makes a rename or a removal in dir durable. A variable, so that
// a test can make it fail.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
