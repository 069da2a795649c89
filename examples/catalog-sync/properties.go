package main

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf16"
)

// connectorNameKey is the property of a Trino catalog file that names its
// connector.
const connectorNameKey = "connector.name"

// fileHeader is the first line of every catalog file this program writes:
// it marks the files it may replace or remove (FileConnector.RemoveStale),
// and leaves hand-written ones alone.
const fileHeader = "# Written by catalog-sync from etcd: edits here are overwritten."

// encodeProperties returns a catalog as Trino reads it from etc/catalog: a
// Java properties file with connector.name first, then the properties in
// the order of their keys, each key and value escaped as
// java.util.Properties.store(OutputStream, ...) escapes them.
//
// Trino reads the file with airlift's ConfigurationLoader.loadPropertiesFrom,
// which decodes it as UTF-8 and hands it to Properties.load(Reader); store
// to an OutputStream writes ISO 8859-1 with everything outside printable
// ASCII as \uXXXX. Writing those escapes, as here, gives a file of ASCII
// only, which both readers (and Properties.load(InputStream)) decode to the
// same strings, whatever the platform's charset.
func encodeProperties(c Catalog) []byte {
	var b strings.Builder
	b.WriteString(fileHeader)
	b.WriteByte('\n')
	line := func(k, v string) {
		writeEscaped(&b, k, true)
		b.WriteByte('=')
		writeEscaped(&b, v, false)
		b.WriteByte('\n')
	}
	line(connectorNameKey, c.Connector)
	for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
		line(k, c.Properties[k])
	}
	return []byte(b.String())
}

// writeEscaped writes s as Properties.saveConvert does with escUnicode
// set: a backslash doubled; tab, newline, carriage return and form feed
// as \t, \n, \r, \f; =, :, # and ! after a backslash; a space after a
// backslash in a key, or at the start of a value (Properties.load skips
// spaces before a value, and ends a key at the first one); every other
// character below U+0020 or above U+007E as \uXXXX of its UTF-16 code
// units (upper-case hex digits), a character beyond U+FFFF as its
// surrogate pair.
func writeEscaped(b *strings.Builder, s string, key bool) {
	const hex = "0123456789ABCDEF"
	u := func(c uint16) {
		b.WriteString(`\u`)
		b.WriteByte(hex[c>>12&0xF])
		b.WriteByte(hex[c>>8&0xF])
		b.WriteByte(hex[c>>4&0xF])
		b.WriteByte(hex[c&0xF])
	}
	first := true
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == ' ':
			if key || first {
				b.WriteByte('\\')
			}
			b.WriteByte(' ')
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '=' || r == ':' || r == '#' || r == '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7E:
			if r > 0xFFFF {
				hi, lo := utf16.EncodeRune(r)
				u(uint16(hi))
				u(uint16(lo))
			} else {
				u(uint16(r))
			}
		default:
			b.WriteRune(r)
		}
		first = false
	}
}
