package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/seed764c596d/mastership/events"
)

// TestNonPrintingEscaped: ids with bidirectional controls and other
// characters that do not print reach standard output as JSON \u escapes,
// never raw, and decode back to the same ids; printable ones (é, 日本,
// emoji) stay as they are.
func TestNonPrintingEscaped(t *testing.T) {
	ids := []string{
		"a\u202Egpj.exe", // RIGHT-TO-LEFT OVERRIDE
		"b\u2066x\u2069", // LEFT-TO-RIGHT ISOLATE, POP DIRECTIONAL ISOLATE
		"c\u200Bd\u200F", // ZERO WIDTH SPACE, RIGHT-TO-LEFT MARK
		"e\u00A0f\u3000", // NO-BREAK SPACE, IDEOGRAPHIC SPACE
		"g\uE000\uFEFF",  // private use, BYTE ORDER MARK
		"h\U000E0041",    // TAG LATIN CAPITAL LETTER A, above U+FFFF
		"i\u2028\u0085",  // LINE SEPARATOR, NEXT LINE
		"é日本🙂",
	}
	var nodes []events.Node
	for i, id := range ids {
		nodes = append(nodes, events.Node{ID: id, CreateRevision: int64(10 + i)})
	}
	ev := events.Event{
		Type:  events.SlaveAdd,
		Nodes: nodes[1:],
		View:  events.View{Self: ids[0], Members: nodes},
		Time:  time.Now(),
	}
	var out bytes.Buffer
	if err := newPrinter(&out, ids[0]).print(ev); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("output %q, want one line", s)
	}
	for _, r := range s[:len(s)-1] {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("output has %U raw: %q", r, s)
		}
	}
	for _, want := range []string{`a\u202egpj.exe`, `h\udb40\udc41`, `"é日本🙂"`} {
		if !strings.Contains(s, want) {
			t.Errorf("output %s lacks %s", s, want)
		}
	}
	var l line
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("output %q: %v", s, err)
	}
	if l.Self != ids[0] || strings.Join(l.Members, "|") != strings.Join(ids, "|") || strings.Join(l.Nodes, "|") != strings.Join(ids[1:], "|") || l.Master != ids[0] {
		t.Errorf("decoded %+v, want self and master %q, members %q", l, ids[0], ids)
	}
}
