package main

import "testing"

// TestTextNotUTF8: a value's bytes that are not UTF-8 are escaped, never
// written raw to the terminal: 0x9b alone is CSI, a C1 control, to a
// terminal that takes 8-bit controls, although it decodes as U+FFFD,
// which prints.
func TestTextNotUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1:5432", "10.0.0.1:5432"},
		{"a\x9b2Jb", `"a\x9b2Jb"`},
		{"\xff", `"\xff"`},
		{"é\xc3", `"é\xc3"`},
		{"\u202e", `"\u202e"`},
	} {
		if got := text(tc.in); got != tc.want {
			t.Errorf("text(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
