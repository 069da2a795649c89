package doccheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeProgramsCompile type-checks, with go vet, every Go block of the
// Markdown files users read first that is a whole program (it begins with
// "package main"), so that a newcomer's copy and paste compiles as written.
// Blocks that are fragments are left alone.
func TestReadmeProgramsCompile(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to type-check the programs: %v", err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, prog := range goPrograms(string(b)) {
			n++
			dir := t.TempDir()
			src := filepath.Join(dir, "main.go")
			if err := os.WriteFile(src, []byte(prog), 0o600); err != nil {
				t.Fatal(err)
			}
			// Run from the module root, so that the program's imports of
			// this module resolve to this tree.
			cmd := exec.Command(gobin, "vet", src)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: Go program %d does not compile: %v\n%s", f, i+1, err, out)
			}
		}
	}
	if n == 0 {
		t.Error("README.md has no complete Go program; its first snippet should be one")
	}
}

// goPrograms returns the fenced Go blocks of a Markdown text that begin with
// "package main".
func goPrograms(md string) []string {
	var out []string
	var cur []string
	in := false
	for line := range strings.Lines(md) {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case !in && trimmed == "```go":
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			if len(cur) > 0 && strings.HasPrefix(cur[0], "package main") {
				out = append(out, strings.Join(cur, ""))
			}
		case in:
			cur = append(cur, line)
		}
	}
	return out
}
