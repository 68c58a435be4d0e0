package main

import (
	"bytes"
	"fmt"
	"os"
)

// docBegin and docEnd are the lines of docs/benchmarks.md between which a
// full run writes its tables; the text around them (how to reproduce, what
// is measured, findings) is written by hand.
const (
	docBegin = "<!-- make bench: begin -->"
	docEnd   = "<!-- make bench: end -->"
)

// writeDoc replaces what is between the docBegin and docEnd lines of the
// Markdown file at path with md.
func writeDoc(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-doc: %w", err)
	}
	out, err := spliceDoc(b, md)
	if err != nil {
		return fmt.Errorf("-doc %s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// spliceDoc returns doc with what is between its docBegin and docEnd
// lines replaced by md.
func spliceDoc(doc []byte, md string) ([]byte, error) {
	begin := bytes.Index(doc, []byte(docBegin+"\n"))
	end := bytes.Index(doc, []byte(docEnd))
	if begin < 0 || end < 0 || end < begin {
		return nil, fmt.Errorf("want a %q line, then a %q line", docBegin, docEnd)
	}
	var out bytes.Buffer
	out.Write(doc[:begin+len(docBegin)+1])
	out.WriteString(md)
	if len(md) > 0 && md[len(md)-1] != '\n' {
		out.WriteByte('\n')
	}
	out.Write(doc[end:])
	return out.Bytes(), nil
}
