package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// projectTemplate is what `kapok init` writes. "gitignore" is written as ".gitignore":
// a dotfile in the embedded tree would need the all: prefix and be easy to miss.
//
//go:embed projecttemplate
var projectTemplate embed.FS

// initCommand runs `kapok init [DIR]`: a project folder that `kapok dev` serves at once.
func initCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 || len(args) == 1 && strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "kapok init: give at most one directory; see 'kapok init --help'")
		return exitUsage
	}
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	written, err := writeProject(dir)
	if err != nil {
		fmt.Fprintln(stderr, "kapok init:", err)
		return exitFailed
	}
	for _, f := range written {
		fmt.Fprintf(stdout, "  created %s\n", filepath.Join(dir, f))
	}
	fmt.Fprintf(stdout, "\nNext:\n  cd %s && kapok dev\n  cd %s && npm install && npm start   (in another terminal)\n", dir, filepath.Join(dir, "app"))
	return exitOK
}

// writeProject writes the template into dir, refusing to overwrite any file.
func writeProject(dir string) ([]string, error) {
	const root = "projecttemplate"
	var files []string
	err := fs.WalkDir(projectTemplate, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(path, root+"/")
		if rel == "gitignore" {
			rel = ".gitignore"
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, rel := range files {
		if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
			return nil, fmt.Errorf("%s exists: kapok init writes only into a folder without these files", filepath.Join(dir, rel))
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	for _, rel := range files {
		src := root + "/" + rel
		if rel == ".gitignore" {
			src = root + "/gitignore"
		}
		b, err := projectTemplate.ReadFile(src)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}
