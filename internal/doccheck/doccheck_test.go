package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libraries are the packages users import, relative to the module root.
var libraries = []string{"events", "status", "selector", "election", "metrics", "health", "etcdflags", "localetcd", "mastershiptest"}

// TestExportedNamesDocumented fails for every exported name of a library
// package without a doc comment: functions, methods of exported types,
// types, constants, variables, struct fields and interface methods; and for
// a package without a package comment.
func TestExportedNamesDocumented(t *testing.T) {
	for _, dir := range libraries {
		path := filepath.Join("..", "..", dir)
		fset := token.NewFileSet()
		files, err := os.ReadDir(path)
		if err != nil {
			t.Fatal(err)
		}
		pkgDoc := false
		n := 0
		for _, f := range files {
			name := f.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, filepath.Join(path, name), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if file.Doc != nil {
				pkgDoc = true
			}
			for _, miss := range undocumented(file) {
				t.Errorf("%s: %s has no doc comment", fset.Position(miss.Pos()), name2(miss))
			}
		}
		if n == 0 {
			t.Errorf("%s: no Go files", dir)
		}
		if !pkgDoc {
			t.Errorf("%s: no package comment", dir)
		}
	}
}

func name2(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Ident:
		return n.Name
	case *ast.FuncDecl:
		return n.Name.Name
	}
	return "?"
}

// undocumented returns the exported names in file that lack a doc comment.
func undocumented(file *ast.File) []ast.Node {
	var out []ast.Node
	for _, decl := range file.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || !exportedRecv(d) {
				continue
			}
			if d.Doc == nil {
				out = append(out, d)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						out = append(out, s.Name)
					}
					out = append(out, members(s.Type)...)
				case *ast.ValueSpec:
					for _, id := range s.Names {
						// A name in a documented group counts as
						// documented, as go doc shows the group's comment.
						if id.IsExported() && s.Doc == nil && s.Comment == nil && d.Doc == nil {
							out = append(out, id)
						}
					}
				}
			}
		}
	}
	return out
}

// exportedRecv reports whether a function is a plain function or a method
// of an exported type.
func exportedRecv(d *ast.FuncDecl) bool {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return true
	}
	t := d.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return true
		}
	}
}

// members returns the exported fields of a struct type, or methods of an
// interface type, that lack a doc or line comment.
func members(t ast.Expr) []ast.Node {
	var list *ast.FieldList
	switch x := t.(type) {
	case *ast.StructType:
		list = x.Fields
	case *ast.InterfaceType:
		list = x.Methods
	default:
		return nil
	}
	var out []ast.Node
	for _, f := range list.List {
		for _, id := range f.Names {
			if id.IsExported() && f.Doc == nil && f.Comment == nil {
				out = append(out, id)
			}
		}
	}
	return out
}
