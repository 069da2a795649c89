package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Catalog is one catalog as stored in etcd at <prefix>/catalogs/<name>.
type Catalog struct {
	// Name is the catalog's name: its key with the prefix removed.
	Name string `json:"-"`
	// Connector names the connector that serves it, such as "postgresql".
	Connector string `json:"connector"`
	// Properties configure the connector. Values under secret-looking
	// keys (see IsSecret) are never logged nor returned by the API.
	Properties Properties `json:"properties,omitempty"`
	// Dropping is set by the first phase of a drop: no new use.
	Dropping bool `json:"dropping,omitempty"`
	// Revision is the ModRevision of the catalog's key: each create,
	// update or drop gives it a new one.
	Revision int64 `json:"-"`
}

// LogValue logs a catalog with its secrets redacted.
func (c Catalog) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("connector", c.Connector),
		slog.Any("properties", c.Properties),
		slog.Bool("dropping", c.Dropping),
		slog.Int64("revision", c.Revision))
}

// Properties are a catalog's connector properties.
type Properties map[string]string

// secretWords are the words that make a property's value secret when its
// key contains one, in any case. "key" also catches "keystore", "api-key"
// and "access-key-id": redacting too much is the safe side.
var secretWords = []string{"password", "passwd", "secret", "token", "key", "credential"}

// IsSecret reports whether a property's value must never be shown.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Redacted is the value shown in place of a secret.
const Redacted = "<redacted>"

// Redacted returns a copy of p with every secret value replaced.
func (p Properties) Redacted() Properties {
	out := make(Properties, len(p))
	for k, v := range p {
		if IsSecret(k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// String prints p redacted, so that %v of a catalog never shows a secret.
func (p Properties) String() string {
	r := p.Redacted()
	parts := make([]string, 0, len(r))
	for _, k := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, k+"="+r[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// LogValue logs p redacted.
func (p Properties) LogValue() slog.Value { return slog.StringValue(p.String()) }

// nameRE is the catalog names this program accepts: a safe file name, and a
// name Trino keeps as it is.
//
// Trino's own rule is looser. io.trino.spi.catalog.CatalogName refuses
// only the empty name and lower-cases any other ("Currently, catalog names
// must be lowercase"); StaticCatalogManager and FileCatalogStore take the
// name of etc/catalog/<name>.properties as it is and refuse "system"
// ("Catalog name SYSTEM is reserved for internal usage"); CREATE CATALOG
// takes an SQL identifier, which quoted may hold any character. So
// upper-case letters (Trino would read PG.properties as catalog pg),
// path separators, dots (".." and a name ending in ".properties"),
// spaces and the rest are refused here, as is "system". Unquoted, a name
// starting with a digit needs quotes in SQL ("1x".s.t), which Trino
// allows.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,63}$`)

// reservedName is the catalog Trino keeps for itself.
const reservedName = "system"

// checkName returns nil if name is a catalog name this program accepts, or
// an error naming it and the rule.
func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 64 of a-z, 0-9 and _, not starting with _", name)
	}
	if name == reservedName {
		return fmt.Errorf("name %q: reserved by Trino", name)
	}
	return nil
}

// validate checks a catalog given to create or update; the error names the
// field.
func (c Catalog) validate() error {
	if err := checkName(c.Name); err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	if strings.TrimSpace(c.Connector) == "" {
		return fmt.Errorf("%w: connector: required", errInvalid)
	}
	for k := range c.Properties {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("%w: properties: empty key", errInvalid)
		}
		if k == connectorNameKey {
			return fmt.Errorf("%w: properties: %q is the connector field", errInvalid, k)
		}
	}
	return nil
}

func (c Catalog) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // strings and a bool always marshal
	}
	return string(b)
}

func decodeCatalog(name string, value []byte, rev int64) (Catalog, error) {
	c := Catalog{Name: name, Revision: rev}
	if err := json.Unmarshal(value, &c); err != nil {
		return c, fmt.Errorf("catalog %q at revision %d: %w", name, rev, jsonErr(err))
	}
	return c, nil
}

// jsonErr returns a JSON decoding error that shows nothing of the text
// decoded, which may hold secrets: a syntax error's message quotes the
// character at fault, so only its offset is kept. Type errors name a field
// and types, never a value, and are kept as they are.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
	}
	return err
}

// workerRecord is the value of a worker's member key.
type workerRecord struct {
	// Applied is the revision up to which the worker has applied every
	// catalog change.
	Applied int64 `json:"applied"`
}
