package mtlcore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// A method lives in one file: outside its method_<name>.go, no code of the module — in mtlcore or any other
// package — switches on a method or compares against one (case X, == X, != X), so adding a method is adding a
// file. Tests may name methods (tables of cases); code may not branch on them.
func TestNoCodeSwitchesOnAMethod(t *testing.T) {
	// The methods' constants, as their files declare them: const X Method = N.
	names := map[string]bool{}
	files, _ := filepath.Glob("method_*.go")
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					if v, ok := spec.(*ast.ValueSpec); ok && exprName(v.Type) == "Method" {
						for _, id := range v.Names {
							names[id.Name] = true
						}
					}
				}
			}
		}
	}
	if len(names) != len(Methods()) {
		t.Fatalf("found constants %v for %d registered methods", names, len(Methods()))
	}
	isMethod := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.Ident:
			return names[x.Name]
		case *ast.SelectorExpr:
			if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "mtlcore" {
				return names[x.Sel.Name]
			}
		}
		return false
	}
	root := ".."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "tools" || d.Name() == "notebooks") && path != root {
			return filepath.SkipDir
		}
		base := filepath.Base(path)
		if d.IsDir() || !strings.HasSuffix(base, ".go") || strings.HasSuffix(base, "_test.go") ||
			(filepath.Base(filepath.Dir(path)) == "mtlcore" && strings.HasPrefix(base, "method_")) {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CaseClause:
				for _, e := range x.List {
					if isMethod(e) {
						t.Errorf("%s: case on a method (%s): put what differs in the method's own file", path, exprName(e))
					}
				}
			case *ast.BinaryExpr:
				if (x.Op == token.EQL || x.Op == token.NEQ) && (isMethod(x.X) || isMethod(x.Y)) {
					t.Errorf("%s: comparison with a method: put what differs in the method's own file", path)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Errorf("only %d Go files checked", checked)
	}
}

func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprName(x.X) + "." + x.Sel.Name
	}
	return ""
}
